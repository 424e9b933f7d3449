# Metadata lives in pyproject.toml; setup.py exists only because cffi's
# setuptools integration is a setup() keyword.
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
