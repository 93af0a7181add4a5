"""Each seed document's workflow, end to end against a real ``reelforge serve``: token, session,
upload, state, export, poll, download; the downloaded file checked with a probe.

Clients send exactly what the seeds tell them to (multipart field ``files``, the attribution
headers, ``output: {"format": "mp4", "quality": "high"}``); the drafts are built with the
engine's own model, standing in for the chat agent that writes them on the hosted service.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from PIL import Image

from engine.media.probe import inspect_output
from engine.model.draft import (
    AudioSegment,
    AudioTrack,
    Draft,
    Meta,
    Motion,
    Output,
    TextSegment,
    TextStyle,
    TextTrack,
    Transitions,
    VideoSegment,
    VideoTrack,
    dump_draft,
)
from tests.apiserver import Client

SEED_OUTPUT = {"format": "mp4", "quality": "high"}


def skill(name: str) -> dict[str, str]:
    return {"X-Skill-Source": name, "X-Skill-Version": "1.0.0", "X-Skill-Platform": "clawhub"}


def download(url: str, dest: Path) -> Path:
    """What the seeds do with output.url: a plain GET, no token."""
    with httpx.stream("GET", url, timeout=60) as reply:
        assert reply.status_code == 200
        with open(dest, "wb") as fh:
            for chunk in reply.iter_bytes():
                fh.write(chunk)
    return dest


def finish(client: Client, draft: Draft, tmp_path: Path, output: dict | None = None) -> tuple[dict, Path]:
    started = client.export(dump_draft(draft), output or SEED_OUTPUT)
    assert started["code"] == 0 and started["status"] in ("pending", "processing"), started
    done = client.wait(started["id"])
    assert done["status"] == "completed", done
    assert done["output"]["url"] == done["data"]["outputUrl"]
    return done, download(done["output"]["url"], tmp_path / f"out.{done['output']['format']}")


def uploaded(client: Client, *paths: Path) -> list[dict]:
    reply = client.upload(*paths)
    assert reply["code"] == 0, reply
    files = reply["data"]["files"]
    assert files == reply["data"]["uploaded_files"] and reply["data"]["session_state_applied"] is True
    return files


def test_best_gif_maker_clip_to_looping_gif_without_sound(api_server, clients, media, tmp_path) -> None:
    client = clients(api_server.base, headers=skill("best-gif-maker")).connect(language="en")
    [clip] = uploaded(client, media.pattern)
    assert (clip["file_type"], clip["duration"], clip["width"], clip["height"]) == ("video", 3.0, 320, 180)
    state = client.state()["data"]
    assert state["state"]["video_infos"][0]["url"] == clip["url"]
    assert [s["src"] for t in state["state"]["draft"]["t"] for s in t["sg"]] == [clip["url"].removeprefix(
        api_server.base)]                                           # the upload is on the timeline at once
    draft = Draft(m=Meta(out=Output(format="gif", audio=False)),
                  t=[VideoTrack(tt=0, sg=[VideoSegment(src=clip["url"])])])
    done, path = finish(client, draft, tmp_path)                     # the seed's export body: mp4, high
    info = inspect_output(path)
    assert (info.video_codec, info.has_audio) == ("h264", False)     # the GIF skills return MP4 (seed)
    assert (info.width, info.height) == (1280, 720)                  # at 720p, as this skill promises
    assert abs(info.duration_s - 3.0) <= 1 / 30 and done["output"]["duration"] == info.duration_s
    gif, gif_path = finish(client, draft, tmp_path, {"format": "gif"})   # and a real GIF when asked for one
    with Image.open(gif_path) as im:
        assert im.format == "GIF" and im.info.get("loop") == 0 and im.n_frames == 45
    assert gif["data"]["encoder"].startswith("gif")


def test_video_compressor_gif_small_looping_gif(api_server, clients, media, tmp_path) -> None:
    client = clients(api_server.base, headers=skill("video-compressor-gif")).connect(language="en")
    [clip] = uploaded(client, media.pattern)
    draft = Draft(m=Meta(out=Output(format="gif", max_mb=0.3)),
                  t=[VideoTrack(tt=0, sg=[VideoSegment(src=clip["cdn_url"])])])
    done, path = finish(client, draft, tmp_path, {"format": "gif", "quality": "high"})
    assert done["output"]["size"] == path.stat().st_size <= 300_000
    with Image.open(path) as im:
        assert im.format == "GIF" and im.info.get("loop") == 0
    mp4, mp4_path = finish(client, Draft(t=draft.t), tmp_path, SEED_OUTPUT)   # the seed's own export: a 720p MP4
    assert inspect_output(mp4_path).height == 720 and mp4["output"]["height"] == 720


def test_ai_video_maker_promo_with_music_and_text(api_server, clients, media, tmp_path) -> None:
    client = clients(api_server.base, headers=skill("ai-video-maker-gratis")).connect(language="en")
    photos = []
    for index, colour in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 200, 40), (40, 200, 200))):
        path = tmp_path / f"product-{index}.jpg"
        Image.new("RGB", (640, 480), colour).save(path)
        photos.append(path)
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (200, 200), (255, 255, 255, 0)).save(logo)
    files = uploaded(client, *photos, logo, media.music)
    assert [f["file_type"] for f in files] == ["image"] * 6 + ["audio"]
    urls = [f["url"] for f in files]
    slides = [VideoSegment(src=u, d=500, mo=Motion(type="zoom-in"), tr=Transitions(in_="fade") if i else None)
              for i, u in enumerate(urls[:5])]
    draft = Draft(
        m=Meta(aspect="9:16", width=540, out=Output(resolution="1080p")),
        t=[VideoTrack(tt=0, n="Video", sg=slides),
           VideoTrack(tt=0, n="Logo", sg=[VideoSegment(src=urls[5], st=0, d=2500, box={"x": 0.7, "y": 0.05, "w": 0.25,
                                                                                          "h": 0.15})]),
           AudioTrack(tt=1, n="BGM", sg=[AudioSegment(src=urls[6], vol=0.35, fo=500)]),
           TextTrack(tt=7, n="Title",
                     sg=[TextSegment(txt="Summer Sale", d=1500, style=TextStyle(pos="top", anim="fade"))])])
    done, path = finish(client, draft, tmp_path)
    info = inspect_output(path)
    assert (info.video_codec, info.width, info.height, info.has_audio) == ("h264", 1080, 1920, True)
    assert abs(info.duration_s - 2.5) <= 1 / 30
    assert done["data"]["encoder"] == "libx264" and done["data"]["encoder_reason"]


def test_image_to_free_stills_to_a_clip(api_server, clients, media, tmp_path) -> None:
    client = clients(api_server.base, headers=skill("image-to-free")).connect(language="en")
    pictures = [media.green_png, media.yellow_jpg_rot, media.webp] + ([media.heic] if media.heic else [])
    files = uploaded(client, *pictures)
    assert all(f["file_type"] == "image" for f in files)
    draft = Draft(m=Meta(aspect="16:9", width=640),
                  t=[VideoTrack(tt=0, sg=[VideoSegment(src=f["url"], d=700, fit="cover", mo="pan-right")
                                          for f in files])])
    done, path = finish(client, draft, tmp_path)
    info = inspect_output(path)
    assert (info.video_codec, info.width, info.height, info.has_audio) == ("h264", 640, 360, False)
    assert abs(info.duration_s - 0.7 * len(files)) <= 1 / 30
    with_token = client.call("GET", f"/api/render/proxy/{done['id']}/download")      # the seed's fallback (E9)
    assert with_token.status_code == 200 and with_token.content == path.read_bytes()
    assert with_token.headers["content-type"] == "video/mp4"
