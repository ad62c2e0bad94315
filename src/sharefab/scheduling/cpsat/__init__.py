"""CP-SAT model of the scheduling problem, split as in PyJobShop.

:class:`Variables` (lots, modes, optional intervals), :class:`Constraints` (one private method per
constraint family) and :class:`Objective` (one expression per objective term) are composed by
:class:`CpSatModel`; :func:`solve_cpsat` builds and solves it.
"""

from sharefab.scheduling.cpsat.constraints import Constraints
from sharefab.scheduling.cpsat.model import CpSatModel, solve_cpsat
from sharefab.scheduling.cpsat.objective import Objective, evaluate, objective_key, objective_value
from sharefab.scheduling.cpsat.variables import Variables

__all__ = [
    "Constraints",
    "CpSatModel",
    "Objective",
    "Variables",
    "evaluate",
    "objective_key",
    "objective_value",
    "solve_cpsat",
]
