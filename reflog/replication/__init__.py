"""The replication protocol as sans-IO code: one replica's partition state and the controller.

:class:`~reflog.replication.partition.Partition` takes events (metadata, produce requests,
fetches, fetch responses) and returns decisions; :class:`~reflog.replication.controller.Controller`
keeps the cluster's metadata and elects leaders. Neither performs I/O or reads a clock.
"""

from reflog.errors import Errors
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.partition import Partition, PartitionConfig, Role

__all__ = ["Controller", "ControllerConfig", "Errors", "Partition", "PartitionConfig", "Role"]
