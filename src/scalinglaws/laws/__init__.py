"""Scaling laws as equinox modules, and the registry that names them."""

from ._base import (
    AbstractLaw as AbstractLaw,
    coefficient as coefficient,
    interval as interval,
    positive as positive,
    real as real,
    unit_interval as unit_interval,
)
from ._registry import get_law as get_law, law_names as law_names, register_law as register_law
from .chinchilla import Chinchilla as Chinchilla
from .data_constrained import DataConstrained as DataConstrained
from .kaplan import Kaplan as Kaplan
from .overtraining import DownstreamError as DownstreamError, Overtraining as Overtraining
from .parallel import ParScale as ParScale
from .power import BrokenPowerLaw as BrokenPowerLaw, PowerLaw as PowerLaw
