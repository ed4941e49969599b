"""Files segstudio reads at run time: sample scripts written next to a model export, the
window icon. Package data, found by the build (pyproject.toml) and checked by tests/test_wheel.py."""
