"""Scaling laws as equinox modules, and the registry that names them."""

from ._base import (
    AbstractLaw as AbstractLaw,
    coefficient as coefficient,
    interval as interval,
    positive as positive,
    real as real,
    unit_interval as unit_interval,
)
from ._logspace import log_sum_exp as log_sum_exp
from ._registry import (
    get_law as get_law,
    law_name as law_name,
    law_names as law_names,
    law_path as law_path,
    register_law as register_law,
    resolve_law as resolve_law,
    validate_coefficients as validate_coefficients,
    validate_static as validate_static,
)
from .chinchilla import Chinchilla as Chinchilla
from .data_constrained import DataConstrained as DataConstrained
from .curves import LRAnnealing as LRAnnealing, LRAnnealingN as LRAnnealingN, MultiPower as MultiPower
from .kaplan import Kaplan as Kaplan, KaplanCritical as KaplanCritical
from .overtraining import DownstreamError as DownstreamError, Overtraining as Overtraining
from .parallel import ParScale as ParScale
from .power import BrokenPowerLaw as BrokenPowerLaw, PowerLaw as PowerLaw
