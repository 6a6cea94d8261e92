"""`hygiene risk`: machine share, duplication, diversity, predicted collapse horizon and an integrity grade."""

from hygiene.errors import RiskError

from .assess import RiskOptions, assess, check_inputs

__all__ = ["RiskOptions", "assess", "check_inputs", "RiskError"]
