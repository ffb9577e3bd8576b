"""Scaling laws as equinox modules, and the registry that names them."""

from ._base import (
    AbstractLaw as AbstractLaw,
)
from ._base import (
    coefficient as coefficient,
)
from ._base import (
    interval as interval,
)
from ._base import (
    positive as positive,
)
from ._base import (
    real as real,
)
from ._base import (
    unit_interval as unit_interval,
)
from ._registry import (
    get_law as get_law,
)
from ._registry import (
    law_names as law_names,
)
from ._registry import (
    register_law as register_law,
)
from .chinchilla import Chinchilla as Chinchilla
from .data_constrained import DataConstrained as DataConstrained
from .kaplan import Kaplan as Kaplan
from .overtraining import DownstreamError as DownstreamError
from .overtraining import Overtraining as Overtraining
from .parallel import ParScale as ParScale
from .power import BrokenPowerLaw as BrokenPowerLaw
from .power import PowerLaw as PowerLaw
