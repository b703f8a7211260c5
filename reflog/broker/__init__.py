"""The trio broker shell, the controller as a network service, and their request types."""

from reflog.broker.broker import Broker
from reflog.broker.config import BrokerConfig
from reflog.broker.controller_service import ControllerService

__all__ = ["Broker", "BrokerConfig", "ControllerService"]
