"""The generated gRPC stubs of salesguard's protos (``make proto``; do not edit by hand).

``salesguard_api.<service>.v1`` holds the messages and stubs of the proto package
``salesguard.<service>.v1``: the wire names keep the proto package, only the Python
module lives apart from the hand-written shared mechanics in ``salesguard``.
"""
