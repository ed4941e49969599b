"""A project: the folder (segstudio.json, masks/, runs/, exports/), its lock, and masks and
data sets coming in and going out. Knows files through segstudio.io, pixels through
segstudio.core; no torch, no Qt."""
