"""What of an H.264 part's parameter sets decoding depends on, read from its avcC."""


from __future__ import annotations

from pathlib import Path

import av


def parameter_sets(path: Path) -> object:
    """What of a part's H.264 parameter sets decoding depends on: all of them except the presentation-only
    fields of the VUI (aspect ratio, colour description, chroma location), which the encoder takes from the
    first frame of each part and the joined file takes from the first part, like the whole render."""
    with av.open(str(path)) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata or b"")
    try:
        return _avcc_for_decoding(extradata)
    except (IndexError, ValueError):
        return extradata


def _avcc_for_decoding(avcc: bytes) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    if len(avcc) < 7 or avcc[0] != 1:
        raise ValueError("not avcC")
    units: list[list[bytes]] = [[], []]
    pos = 5
    for kind, mask in ((0, 0x1F), (1, 0xFF)):
        count, pos = avcc[pos] & mask, pos + 1
        for _ in range(count):
            size = int.from_bytes(avcc[pos:pos + 2], "big")
            units[kind].append(avcc[pos + 2:pos + 2 + size])
            pos += 2 + size
    return tuple(_sps_for_decoding(sps) for sps in units[0]), tuple(units[1])


class _Bits:
    """An H.264 NAL unit's payload (emulation prevention removed), read bit by bit."""

    def __init__(self, nal: bytes) -> None:
        rbsp = nal.replace(b"\x00\x00\x03", b"\x00\x00")
        self.bits, self.at = "".join(f"{byte:08b}" for byte in rbsp), 0

    def u(self, n: int) -> int:
        if self.at + n > len(self.bits):
            raise IndexError("SPS ends early")
        value, self.at = int(self.bits[self.at:self.at + n] or "0", 2), self.at + n
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def skip_ue(self, count: int) -> None:
        for _ in range(count):
            self.ue()


def _sps_for_decoding(nal: bytes) -> str:
    """The SPS's bits, less the VUI's aspect ratio, overscan, video signal type and chroma location."""
    r = _Bits(nal)
    r.u(8)                                          # NAL header
    profile = r.u(8)
    r.u(16)                                         # constraint flags, level
    r.ue()                                          # seq_parameter_set_id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        if r.ue() == 3:                             # chroma_format_idc 4:4:4 ...
            r.u(1)                                  # ... separate_colour_plane_flag
        r.skip_ue(2)                                # bit depths
        r.u(1)                                      # qpprime_y_zero_transform_bypass_flag
        if r.u(1):
            raise ValueError("scaling matrices: compared whole")
    r.ue()                                          # log2_max_frame_num_minus4
    order = r.ue()                                  # pic_order_cnt_type
    if order == 0:
        r.ue()
    elif order == 1:
        r.u(1)
        r.skip_ue(2)
        r.skip_ue(r.ue())
    r.ue()                                          # max_num_ref_frames
    r.u(1)
    r.skip_ue(2)                                    # picture size in macroblocks
    if not r.u(1):                                  # frame_mbs_only_flag
        r.u(1)
    r.u(1)                                          # direct_8x8_inference_flag
    if r.u(1):                                      # frame cropping
        r.skip_ue(4)
    if not r.u(1):                                  # vui_parameters_present_flag
        return r.bits
    decoding = r.bits[:r.at]
    if r.u(1) and r.u(8) == 255:                    # aspect ratio (extended SAR)
        r.u(32)
    if r.u(1):                                      # overscan
        r.u(1)
    if r.u(1):                                      # video signal type ...
        r.u(4)
        if r.u(1):                                  # ... colour description
            r.u(24)
    if r.u(1):                                      # chroma location
        r.skip_ue(2)
    return decoding + "|" + r.bits[r.at:]           # timing, HRD and bitstream restrictions stay


