"""Files segstudio reads at run time: ``export_scripts/``, the sample inference scripts written
next to a model export (segstudio.inference.model_export). Package data: pyproject.toml's
package-data ships them; tests/packaging/test_wheel.py checks that the wheel holds them."""
