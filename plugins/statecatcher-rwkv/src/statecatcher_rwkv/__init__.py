"""statecatcher-rwkv: RWKV-7 (Goose) and RWKV-6 (Finch) stateful encoders.

Only hook implementations live here; the factories are imported when an encoder is built.
"""

from statecatcher import hookimpl

OPTIONS = {"hidden_dim": "model width D (a multiple of head_size)", "num_layers": "RWKV blocks",
           "head_size": "channels per head N (the state is [H, N, N] per layer)",
           "subsampling": "frame-rate reduction of the causal front end (4: 10 ms -> 40 ms)",
           "chunk_len": "chunkwise mode: output frames computed in parallel per chunk",
           "mode": "chunkwise (training) or recurrent (frame by frame)",
           "backend": "WKV kernel: auto, torch or fla (flash-linear-attention, CUDA)",
           "lora_dim": "rank of the data-dependent decay/mixing maps (default max(8, hidden_dim // 8))",
           "freq_channels": "channels of a front-end conv along the mel axis (0: none)",
           "cmn_frames": "front end: remove a running mean per mel bin, time constant in frames (0: off)"}


@hookimpl
def register_encoders(register):
    register("rwkv7", "statecatcher_rwkv.encoder:make_rwkv7",
             description="RWKV-7 (Goose) blocks, chunkwise-parallel training, exact state carry",
             options=OPTIONS)
    register("rwkv6", "statecatcher_rwkv.encoder:make_rwkv6",
             description="RWKV-6 (Finch) blocks, chunkwise-parallel training, exact state carry",
             options=OPTIONS)
