"""statecatcher-rwkv: RWKV-7 (Goose) and RWKV-6 (Finch) stateful encoders.

Only hook implementations live here; the factories are imported when an encoder is built.
"""

from statecatcher import hookimpl


@hookimpl
def register_encoders(register):
    register("rwkv7", "statecatcher_rwkv.encoder:make_rwkv7",
             description="RWKV-7 (Goose) blocks, chunkwise-parallel training, exact state carry")
    register("rwkv6", "statecatcher_rwkv.encoder:make_rwkv6",
             description="RWKV-6 (Finch) blocks, chunkwise-parallel training, exact state carry")
