"""The timeline benchmark's composition done with MoviePy 2.x, the reference it is compared with."""

from __future__ import annotations

from pathlib import Path

from benchmarks.timeline_plan import FPS, Plan

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CRF = "20"
PRESET = "veryfast"


def moviepy_render(plan: Plan, output: Path) -> None:
    """The same composition in MoviePy 2.x, the way its documentation composes one."""
    from moviepy import (  # type: ignore[import-untyped]
        AudioFileClip,
        CompositeAudioClip,
        CompositeVideoClip,
        ImageClip,
        TextClip,
        VideoFileClip,
        afx,
        vfx,
    )

    w, h, c = plan.width, plan.height, plan.cuts()

    def sec(ms: int) -> float:
        return ms / 1000

    half = sec(plan.XFADE_MS) / 2

    a_len = sec(c["a"][1]) + half  # A plays on under the first half of the crossfade
    clip_a = VideoFileClip(plan.clip_a, target_resolution=(w, h)).subclipped(0, a_len)

    s1_start, s1_len = sec(c["s1"][0]) - half, sec(c["s1"][1] - c["s1"][0]) + half
    still_1 = (
        ImageClip(plan.still_1)
        .resized((w, h))
        .with_duration(s1_len)
        .resized(lambda t: 1 + plan.ZOOM * t / s1_len)
        .with_position("center")
        .with_start(s1_start)
        .with_effects([vfx.CrossFadeIn(2 * half)])
    )

    b_start, b_len = sec(c["b"][0]), sec(c["b"][1] - c["b"][0])
    clip_b = VideoFileClip(plan.clip_b, target_resolution=(w, h)).subclipped(0, b_len).with_start(b_start)

    s2_start, s2_len = sec(c["s2"][0]), sec(c["s2"][1] - c["s2"][0])
    big_w, big_h = round(w * (1 + plan.PAN)), round(h * (1 + plan.PAN))
    travel = big_w - w
    still_2 = (
        ImageClip(plan.still_2)
        .resized((big_w, big_h))
        .with_duration(s2_len)
        .with_position(lambda t: (-round(travel * t / s2_len), -(big_h - h) // 2))
        .with_start(s2_start)
    )

    fade = 0.3
    title = TextClip(
        font=FONT,
        text=plan.title,
        font_size=round(0.07 * h),
        color="white",
        stroke_color="black",
        stroke_width=2,
    )
    title = (
        title.with_start(sec(plan.ms(plan.TITLE[0])))
        .with_duration(sec(plan.ms(plan.TITLE[1])))
        .with_position(("center", round(h * 0.95) - title.h))
        .with_effects([vfx.CrossFadeIn(fade), vfx.CrossFadeOut(fade)])
    )

    video = CompositeVideoClip([clip_a, still_1, clip_b, still_2, title], size=(w, h)).with_duration(plan.seconds)
    music = AudioFileClip(plan.music).with_effects([afx.MultiplyVolume(0.35)]).with_duration(plan.seconds)
    video = video.with_audio(CompositeAudioClip([video.audio, music]).with_duration(plan.seconds))
    video.write_videofile(
        str(output),
        fps=FPS,
        codec="libx264",
        preset=PRESET,
        ffmpeg_params=["-crf", CRF],
        audio_codec="aac",
        audio_bitrate="192k",
        temp_audiofile_path=str(output.parent),  # not the working directory
        logger=None,
    )
