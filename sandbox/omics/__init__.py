"""Wire-compatible, stateful, time-driven AWS HealthOmics emulator (see docs/EMULATOR.md)."""

from sandbox.omics.clock import VirtualClock
from sandbox.omics.core import Timings
from sandbox.omics.emulator import OmicsEmulator
from sandbox.omics.errors import OmicsError
from sandbox.omics.faults import BatchFault, EventFaults, FaultPlan, RunFault, RunView, SubmissionFault
from sandbox.omics.specs import OutputSpec, TaskSpec, WorkflowSpec, definition_zip
from sandbox.omics.transport_http import OmicsHTTPServer, serve_http
from sandbox.omics.transport_inprocess import mock_omics

__all__ = [
    "BatchFault",
    "EventFaults",
    "FaultPlan",
    "OmicsEmulator",
    "OmicsError",
    "OmicsHTTPServer",
    "OutputSpec",
    "RunFault",
    "RunView",
    "SubmissionFault",
    "TaskSpec",
    "Timings",
    "VirtualClock",
    "WorkflowSpec",
    "definition_zip",
    "mock_omics",
    "serve_http",
]
