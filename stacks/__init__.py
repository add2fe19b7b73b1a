"""The CDK app's infrastructure. Importing it first quiets jsii's raw-bytes Node banner (node_support)."""

from stacks.node_support import NOTICE as NODE_NOTICE

__all__ = ["NODE_NOTICE"]
