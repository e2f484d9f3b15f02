"""Default configuration: WGAN-GP on the 25-Gaussian grid, sized to train on a laptop CPU.

The same as running without ``--config``: the defaults and the schema live in the
package, ``jaxgan.config.get_config`` (read its docstring and comments for every field).
Other configs start from it and override a few fields.
"""

from jaxgan.config import get_config  # noqa: F401
