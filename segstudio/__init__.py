"""segstudio: paint class masks, train a U-Net on your own images, export masks and models."""

__version__ = "0.1.0"
APP_NAME = "segstudio"
