"""The timeline benchmark's second draft, "real footage": camera-like media and its composition.

The first draft's clips are reelforge's own CRF-20 renders of photos: smooth, cheap to decode.
Camera and phone footage is heavier, so this draft is built from a clip made to decode the way
camera footage does, and from photos the size phones take:

- ``camera.mp4``: 24 s of 1920x1080 30 fps H.264 (High profile, about 10 Mbps, 15 Mbps peak,
  GOP 250 with 3 B-frames, CABAC) with 48 kHz stereo AAC. The picture is a hand-held pan over a
  4K landscape (a slow drift with a small shake), with small saturated details that move on
  their own (FFmpeg's ``life`` source, screened over the picture), sensor grain that changes
  every frame (``noise=alls=10:allf=t+u``) and a saturation boost. Grain and moving detail are
  what make real footage expensive to compress and to decode.
- ``photo-3x2.jpg``: a 1920x1280 landscape, saturated, with thousands of small flower-like
  dots; shown with a zoom-in, entering with a 3 s crossfade.
- ``still-3x2.jpg``: a 3000x2000 landscape, shown without motion.

The composition at 30 s (times scale with ``seconds``): camera 1-11 s as cut A (0-10 s), the
photo with a zoom-in (10-17 s) entering with a 3 s crossfade, camera 13-22 s as cut B (17-25 s)
entering with a 2 s crossfade, the still (25-30 s) after a hard cut; a 120 px bold title with a
6 px stroke from 1.5 to 6.5 s with 0.5 s fades; the camera's own sound and music at 35 %.

``hand_command`` is the same composition as one FFmpeg command written by hand, the way a
competent user writes it (xfade over whole streams, zoompan on the photo, drawtext with a
border for the title), encoded with the same settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from benchmarks import common
from benchmarks.scenes import landscape
from benchmarks.timeline_plan import FPS

CAMERA_SECONDS = 24
CAMERA_RECIPE_VERSION = 1
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


# ---------------------------------------------------------------- media


def _ffmpeg(*args: str) -> None:
    common.run([common.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args])


def camera_graph(seconds: float) -> str:
    """The filter graph that makes the camera-like picture from a 3840x2160 still and ``life``."""
    # a slow pan over the 4K picture (about 2 px a frame after scaling) with a hand-held shake
    x = f"(3840-2400-80)*t/{seconds:g}+40+24*sin(t*1.3)+6*sin(t*9.1)"
    y = "420+40*sin(t*0.6)+5*sin(t*7.3)"
    return (
        f"[0:v]crop=w=2400:h=1350:x='{x}':y='{y}',scale=1920:1080:flags=bicubic,format=gbrp[bg];"
        "[1:v]scale=1920:540:flags=bilinear,pad=1920:1080:0:540,format=gbrp[fg];"
        "[bg][fg]blend=all_mode=screen:all_opacity=0.7,format=yuv420p,eq=saturation=1.3,"
        "noise=alls=10:allf=t+u,format=yuv420p[v];"
        "[2:a]lowpass=f=3000,aformat=channel_layouts=stereo:sample_rates=48000[wind];"
        "[3:a]volume=0.5[tone];[wind][tone]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo[a]"
    )


def camera_clip() -> Path:
    """24 s of camera-like 1080p30 H.264 (about 10 Mbps, GOP 250, B-frames) with AAC, made once."""
    path = common.MEDIA / "footage" / "camera.mp4"
    key = path.with_suffix(".key")
    recipe = json.dumps({"v": CAMERA_RECIPE_VERSION, "graph": camera_graph(CAMERA_SECONDS)})
    if path.exists() and key.exists() and key.read_text() == recipe:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    big = path.parent / "camera-scene.png"
    if not big.exists():
        landscape(113, 3840, 2160).save(big, compress_level=1)
    s = f"{CAMERA_SECONDS:g}"
    _ffmpeg(
        "-loop", "1", "-framerate", str(FPS), "-t", s, "-i", str(big),
        "-f", "lavfi", "-i", f"life=s=640x180:r={FPS}:ratio=0.1:mold=0:life_color=#ffb000:death_color=#000000:seed=7",
        "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.1:sample_rate=48000:seed=3:duration={s}",
        "-f", "lavfi", "-i", f"sine=frequency=180:sample_rate=48000:duration={s}",
        "-filter_complex", camera_graph(CAMERA_SECONDS),
        "-map", "[v]", "-map", "[a]", "-t", s,
        "-c:v", "libx264", "-preset", "faster", "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-b:v", "10M", "-maxrate", "15M", "-bufsize", "20M", "-g", "250", "-bf", "3",
        "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-movflags", "+faststart",
        str(path),
    )  # fmt: skip
    key.write_text(recipe)
    return path


def saturated_photo(seed: int, width: int, height: int) -> Image.Image:
    """A detailed, saturated landscape: the scene, colour pushed up, and small flower-like dots."""
    rng = np.random.default_rng(seed)
    im = ImageEnhance.Color(landscape(seed, width, height)).enhance(1.6)
    draw = ImageDraw.Draw(im)
    palette = [(255, 40, 60), (255, 200, 0), (250, 90, 220), (255, 255, 255), (255, 120, 0), (120, 60, 255)]
    for _ in range(width * height // 600):
        x = rng.uniform(0, width)
        y = height * (0.55 + 0.45 * rng.random() ** 0.7)
        r = rng.uniform(0.8, 3.2) * width / 1920
        draw.ellipse((x - r, y - r, x + r, y + r), fill=palette[int(rng.integers(len(palette)))])
    return im.filter(ImageFilter.UnsharpMask(radius=1.5, percent=80, threshold=1))


def photos() -> tuple[Path, Path]:
    """The 1920x1280 photo (zoomed, crossfaded) and the 3000x2000 still."""
    folder = common.MEDIA / "footage"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, seed, size in (("photo-3x2.jpg", 126, (1920, 1280)), ("still-3x2.jpg", 116, (3000, 2000))):
        path = folder / name
        if not path.exists():
            saturated_photo(seed, *size).save(path, quality=92)
        out.append(path)
    return out[0], out[1]


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class FootagePlan:
    """The real-footage composition, in ms at 30 s (scaled by ``k``) and output pixels."""

    width: int
    height: int
    seconds: float
    camera: str
    photo: str
    still: str
    music: str
    title: str = "Coastal Light"

    # (in-point in the camera clip, start, length) at 30 s
    CUT_A = (1000, 0, 10000)
    PHOTO = (10000, 7000)
    CUT_B = (13000, 17000, 8000)
    STILL = (25000, 5000)
    FADE_PHOTO_MS = 3000   # the crossfade into the photo
    FADE_B_MS = 2000       # the crossfade into cut B
    TITLE = (1500, 5000, 500)  # start, length, fade in and out
    TITLE_PX = 120
    STROKE_PX = 6
    ZOOM = 0.12
    MUSIC_VOL = 0.35

    @property
    def k(self) -> float:
        return self.seconds / 30.0

    def ms(self, value: float) -> int:
        return round(value * self.k)

    def span(self, start: int, length: int) -> tuple[int, int]:
        """Start and length in ms after scaling, so that touching segments still touch."""
        return self.ms(start), self.ms(start + length) - self.ms(start)

    def draft(self) -> dict[str, Any]:
        ms, span = self.ms, self.span
        a_st, a_d = span(*self.CUT_A[1:])
        p_st, p_d = span(*self.PHOTO)
        b_st, b_d = span(*self.CUT_B[1:])
        s_st, s_d = span(*self.STILL)
        return {
            "m": {"width": self.width, "height": self.height, "fps": FPS, "out": {"format": "mp4", "quality": "high"}},
            "t": [
                {
                    "tt": 0,
                    "sg": [
                        {"src": self.camera, "ss": ms(self.CUT_A[0]), "st": a_st, "d": a_d, "fit": "cover"},
                        {"src": self.photo, "st": p_st, "d": p_d, "fit": "cover",
                         "mo": {"type": "zoom-in", "amt": self.ZOOM},
                         "tr": {"in": {"type": "fade", "d": ms(self.FADE_PHOTO_MS)}}},
                        {"src": self.camera, "ss": ms(self.CUT_B[0]), "st": b_st, "d": b_d, "fit": "cover",
                         "tr": {"in": {"type": "fade", "d": ms(self.FADE_B_MS)}}},
                        {"src": self.still, "st": s_st, "d": s_d, "fit": "cover"},
                    ],
                },
                {
                    "tt": 7,
                    "sg": [
                        {
                            "txt": self.title,
                            "st": span(*self.TITLE[:2])[0],
                            "d": span(*self.TITLE[:2])[1],
                            "fi": ms(self.TITLE[2]),
                            "fo": ms(self.TITLE[2]),
                            "style": {"size": self.TITLE_PX, "bold": True, "pos": "bottom",
                                      "stroke": {"w": self.STROKE_PX, "color": "#000000"}},
                        }
                    ],
                },
                {"tt": 1, "sg": [{"src": self.music, "vol": self.MUSIC_VOL}]},
            ],
        }  # fmt: skip

    def inputs(self) -> list[Path]:
        return [Path(p) for p in (self.camera, self.photo, self.still, self.music)]

    def without_motion(self) -> dict[str, Any]:
        draft = self.draft()
        for seg in draft["t"][0]["sg"]:
            seg.pop("mo", None)
        return draft

    def hand_command(self, out: Path) -> list[str]:
        """The same composition as one FFmpeg command, written by hand (see the module's docstring)."""
        ms, w, h, r = self.ms, self.width, self.height, FPS
        sec = lambda v: f"{ms(v) / 1000:g}"  # noqa: E731
        fp, fb = ms(self.FADE_PHOTO_MS) / 1000, ms(self.FADE_B_MS) / 1000
        a_in, b_in = ms(self.CUT_A[0]) / 1000, ms(self.CUT_B[0]) / 1000
        a_st, a_len = (v / 1000 for v in self.span(*self.CUT_A[1:]))
        p_st, p_len = (v / 1000 for v in self.span(*self.PHOTO))
        b_st, b_len = (v / 1000 for v in self.span(*self.CUT_B[1:]))
        s_st, s_len = (v / 1000 for v in self.span(*self.STILL))
        total = self.seconds
        # transitions centred on their cuts, as reelforge places them
        a_show = a_len + fp / 2                        # cut A plays on under half the fade
        p_show = p_len + fp / 2 + fb / 2               # the photo from half a fade early to half a fade late
        b_lead = fb / 2
        b_show = b_len + b_lead
        p_frames = round(p_show * r)
        t_st, t_len = (v / 1000 for v in self.span(*self.TITLE[:2]))
        t_fade = ms(self.TITLE[2]) / 1000
        size, stroke = round(self.TITLE_PX * h / 1080), max(1, round(self.STROKE_PX * h / 1080))
        alpha = (f"if(lt(t,{t_st + t_fade:g}),(t-{t_st:g})/{t_fade:g},"
                 f"if(gt(t,{t_st + t_len - t_fade:g}),({t_st + t_len:g}-t)/{t_fade:g},1))")
        margin = round(0.05 * h)
        graph = ";".join([
            f"[0:v]scale={w}:{h},setsar=1,fps={r},format=yuv420p[a]",
            f"[1:v]crop=1920:1080,scale={w}:{h},setsar=1,format=yuv420p,"
            f"zoompan=z='1+{self.ZOOM:g}*on/{p_frames - 1}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2'"
            f":d={p_frames}:s={w}x{h}:fps={r}[p]",
            f"[2:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,format=yuv420p,"
            f"loop=loop={round(s_len * r) - 1}:size=1,fps={r}[s]",
            f"[3:v]scale={w}:{h},setsar=1,fps={r},format=yuv420p[b]",
            f"[a][p]xfade=transition=fade:duration={fp:g}:offset={a_show - fp:g}[ap]",
            f"[ap][b]xfade=transition=fade:duration={fb:g}:offset={b_st - b_lead:g}[apb]",
            f"[apb][s]concat=n=2:v=1:a=0,"
            f"drawtext=fontfile={FONT}:text='{self.title}':fontsize={size}:fontcolor=white"
            f":borderw={stroke}:bordercolor=black:x=(w-text_w)/2:y=h-text_h-{margin}"
            f":alpha='{alpha}':enable='between(t,{t_st:g},{t_st + t_len:g})',format=yuv420p[v]",
            f"[0:a]afade=t=out:st={a_show - fp:g}:d={fp:g}[a0]",
            f"[3:a]afade=t=in:d={fb:g},adelay={round((b_st - b_lead) * 1000)}:all=1[a1]",
            f"[4:a]volume={self.MUSIC_VOL:g}[m]",
            f"[a0][a1][m]amix=inputs=3:normalize=0:duration=longest,atrim=0:{total:g},"
            "alimiter=limit=0.9,aformat=channel_layouts=stereo[out_a]",
        ])  # fmt: skip
        return [
            common.ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
            "-ss", f"{a_in:g}", "-t", f"{a_show:g}", "-i", self.camera,
            "-i", self.photo,
            "-i", self.still,
            "-ss", f"{b_in - b_lead:g}", "-t", f"{b_show:g}", "-i", self.camera,
            "-i", self.music,
            "-filter_complex", graph,
            "-map", "[v]", "-map", "[out_a]", "-t", sec(30000),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-r", str(r),
            "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-f", "mp4", str(out),
        ]  # fmt: skip


def make_footage_plan(quick: bool) -> FootagePlan:
    seconds = 10.0 if quick else 30.0
    width, height = (1280, 720) if quick else (1920, 1080)
    photo, still = photos()
    return FootagePlan(
        width, height, seconds, str(camera_clip()), str(photo), str(still), str(common.music(seconds))
    )
