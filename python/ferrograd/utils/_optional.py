"""Imports of the optional `viz` packages, failing with an ImportError that names the extra."""
import importlib

INSTALL_HINT = "install them with: pip install 'ferrograd[viz]'"


def require(module, package):
    """Imports `module`; an ImportError naming `package` and the `viz` extra if it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"this needs the '{package}' package (part of ferrograd's 'viz' extra); {INSTALL_HINT}") from e
