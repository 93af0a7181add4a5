"""The chat corpus: realistic requests (English and Chinese, typos and casual phrasing included), each
checked by its effect: the draft's tracks, and the file the draft renders to (duration, format,
sound, shape). Every request runs through the rules planner, the edit tools and the engine's
checks exactly as a /run_sse turn does (tests/agent_harness.py); the drafts are then rendered
small and probed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.media.probe import inspect_output
from tests.agent_harness import Library, Session
from tests.conftest import ffmpeg

CLIP = ["clip.mp4"]                       # 6 s, 320x180, with sound
TWO_CLIPS = ["clip.mp4", "talk.mp4"]      # + 4 s, 320x180, with sound
TALL = ["tall.mp4"]                       # 4 s, 180x320, silent
PHOTO = ["photo1.jpg"]                    # 320x240
PHOTOS = ["photo1.jpg", "photo2.jpg", "photo3.png"]
SONG = ["song.mp3"]                       # 8 s
SHOP = ["photo1.jpg", "photo2.jpg", "photo3.png", "logo.png", "clip.mp4"]

# (uploads, earlier messages, the request, what must be true afterwards)
CORPUS: list[tuple[list[str], list[str], str, dict[str, Any]]] = [
    # ---- the seeds' own "Try saying" lines
    (CLIP, [], "convert a 10-second highlight clip from a gameplay recording into a 720p MP4",
     {"format": "mp4", "duration": 6, "audio": True, "out": {"resolution": "720p"}}),
    (CLIP, [], "convert this clip into a looping GIF with no sound", {"format": "gif", "duration": 6, "loop": 0}),
    (CLIP, [], "converting short video clips into shareable GIFs for social media creators",
     {"format": "gif", "duration": 6}),
    (CLIP, [], "convert a 10-second screen recording or short clip into a 720p MP4",
     {"format": "mp4", "out": {"resolution": "720p"}}),
    (CLIP, [], "compress this video into a small looping GIF", {"format": "gif", "loop": 0, "out": {"width": 360}}),
    (CLIP, [], "converting short video clips into compressed GIFs for sharing for marketers, developers, social "
               "media creators", {"format": "gif"}),
    (SHOP, [], "create five product photos and a logo file into a 1080p MP4",
     {"format": "mp4", "out": {"resolution": "1080p"}, "pieces": 5}),
    (SHOP, [], "create a 30-second promotional video with music and text overlays",
     {"format": "mp4", "duration": 30, "audio": True, "music": True, "texts": 2, "out": {"resolution": "1080p"}}),
    (PHOTOS + CLIP, [], "generating polished videos from images or clips without paid software for small business "
                        "owners and social media creators", {"format": "mp4", "pieces": 4}),
    (PHOTOS, [], "convert three product photos or a landscape image into a 1080p MP4",
     {"format": "mp4", "pieces": 3, "out": {"resolution": "1080p"}}),
    (PHOTO, [], "turn this image into a free downloadable video clip",
     {"format": "mp4", "duration": 5, "audio": False}),
    (PHOTO, [], "converting static images into downloadable video files at no cost for social media creators",
     {"format": "mp4", "duration": 5}),
    # ---- GIF
    (CLIP, [], "make it a gif", {"format": "gif", "duration": 6}),
    (CLIP, [], "turn this into a GIF at 10 fps, 320px wide", {"format": "gif", "out": {"fps": 10, "width": 320}}),
    (CLIP, [], "gif pls, looping, no audio", {"format": "gif", "loop": 0}),
    (CLIP, [], "convert to a gif that plays once", {"format": "gif", "loop": -1}),
    (CLIP, [], "make a gif under 2MB", {"format": "gif", "out": {"max_mb": 2}}),
    (CLIP, [], "i need a compressed gif, less than 1.5 mb", {"format": "gif", "out": {"max_mb": 1.5}}),
    (CLIP, [], "first 3 seconds as a gif", {"format": "gif", "duration": 3}),
    (CLIP, [], "make a gif of seconds 2 to 5", {"format": "gif", "duration": 3}),
    (CLIP, [], "convert to giff, loopin", {"format": "gif", "loop": 0}),
    (CLIP, [], "转成GIF，去掉声音，15帧", {"format": "gif", "out": {"fps": 15}}),
    (CLIP, [], "做成循环的GIF动图", {"format": "gif", "loop": 0}),
    (CLIP, [], "把前3秒做成gif", {"format": "gif", "duration": 3}),
    (CLIP, [], "压缩成小于5MB的GIF", {"format": "gif", "out": {"max_mb": 5}}),
    (CLIP, [], "export as webm please", {"format": "webm", "audio": True}),
    (CLIP, [], "make an animated webp", {"format": "webp"}),
    # ---- trimming
    (CLIP, [], "keep only the first 3 seconds", {"duration": 3, "audio": True}),
    (CLIP, [], "trim it from 0:02 to 0:05", {"duration": 3}),
    (CLIP, [], "cut the first 2 seconds", {"duration": 4}),
    (CLIP, [], "remove the first 2 seconds", {"duration": 4}),
    (CLIP, [], "cut the last 2 seconds", {"duration": 4}),
    (CLIP, [], "cut out seconds 2 to 4", {"duration": 4}),
    (CLIP, [], "delete 1s-2s", {"duration": 5}),
    (CLIP, [], "trim between 1 and 4 seconds", {"duration": 3}),
    (CLIP, [], "cut the beginning", {"duration": 5}),
    (CLIP, [], "trim the end", {"duration": 5}),
    (CLIP, [], "shorten it to 4 seconds", {"duration": 4}),
    (CLIP, [], "keep the last 3 seconds", {"duration": 3}),
    (CLIP, [], "只保留前5秒", {"duration": 5}),
    (CLIP, [], "截取第2秒到第5秒", {"duration": 3}),
    (CLIP, [], "去掉前2秒", {"duration": 4}),
    (CLIP, [], "剪掉最后3秒", {"duration": 3}),
    (CLIP, [], "2到4秒", {"duration": 2}),
    (TWO_CLIPS, [], "trim to the first 8 seconds", {"duration": 8, "pieces": 2}),
    # ---- speed, sound, direction
    (CLIP, [], "speed it up 2x", {"duration": 3, "speed": 2}),
    (CLIP, [], "make it twice as fast", {"duration": 3, "speed": 2}),
    (CLIP, [], "slow it down to half speed", {"duration": 12, "speed": 0.5}),
    (CLIP, [], "slow motion", {"duration": 12, "speed": 0.5}),
    (CLIP, [], "make it faster", {"duration": 4, "speed": 1.5}),
    (CLIP, [], "2倍速", {"duration": 3, "speed": 2}),
    (CLIP, [], "放慢一点", {"duration": 8, "speed": 0.75}),
    (CLIP, [], "mute it", {"audio": False, "duration": 6}),
    (CLIP, [], "remove the audio", {"audio": False}),
    (CLIP, [], "静音", {"audio": False}),
    (CLIP, [], "去掉声音", {"audio": False}),
    (CLIP, [], "play it backwards", {"rev": True, "duration": 6, "audio": True}),
    (CLIP, [], "reverse the video", {"rev": True}),
    (CLIP, [], "倒放", {"rev": True}),
    (CLIP, [], "make a boomerang loop", {"duration": 12, "rev": True}),
    (CLIP, [], "first 2 seconds as a boomerang gif", {"format": "gif", "duration": 4, "rev": True}),
    (CLIP, [], "来回播放", {"duration": 12}),
    # ---- shape and size
    (CLIP, [], "make it vertical for TikTok", {"aspect": "9:16"}),
    (CLIP, [], "9:16 for reels", {"aspect": "9:16"}),
    (CLIP, [], "youtube shorts format", {"aspect": "9:16"}),
    (CLIP, [], "make it square for instagram", {"aspect": "1:1"}),
    (CLIP, [], "1:1 please", {"aspect": "1:1"}),
    (TALL, [], "make it 16:9 for youtube", {"aspect": "16:9", "audio": False}),
    (TALL, [], "landscape please", {"aspect": "16:9"}),
    (CLIP, [], "4:5 for an instagram post", {"aspect": "4:5"}),
    (CLIP, [], "make it vertica and crop to fill", {"aspect": "9:16"}),
    (CLIP, [], "竖屏", {"aspect": "9:16"}),
    (CLIP, [], "改成方形", {"aspect": "1:1"}),
    (CLIP, [], "export in 1080p", {"out": {"resolution": "1080p"}}),
    (CLIP, [], "720p please", {"out": {"resolution": "720p"}}),
    # ---- text
    (CLIP, [], "add a title 'Summer Sale'", {"texts": ["Summer Sale"]}),
    (CLIP, [], 'add the caption "Hello world" at the bottom', {"texts": ["Hello world"], "text_pos": "bottom"}),
    (CLIP, [], "put “Big News” at the top in red for the first 3 seconds",
     {"texts": ["Big News"], "text_pos": "top", "text_span": (0, 3000)}),
    (CLIP, [], "add text 'Buy now' from 2s to 5s, big yellow", {"texts": ["Buy now"], "text_span": (2000, 5000)}),
    (CLIP, [], "add a closing text 'Thanks for watching' at the end", {"texts": ["Thanks for watching"]}),
    (CLIP, [], "加标题「夏日特惠」", {"texts": ["夏日特惠"]}),
    (CLIP, [], "在底部加字幕“欢迎光临”", {"texts": ["欢迎光临"], "text_pos": "bottom"}),
    (CLIP, ["add a title 'Old'"], "remove the title", {"texts": []}),
    (CLIP, ["add a title 'Old'"], "删除文字", {"texts": []}),
    (CLIP, ["add a title 'Old'"], "change the title to 'New'", {"texts": ["New"]}),
    # ---- music
    (CLIP + SONG, [], "use the song as background music", {"music": True, "audio": True, "duration": 6}),
    (CLIP + SONG, [], "add music at 30%", {"music": True, "music_vol": 0.3}),
    (CLIP + SONG, [], "add background music with a 2 second fade in", {"music": True, "music_fi": 2000}),
    (CLIP + SONG, ["add music"], "music volume 20%", {"music_vol": 0.2}),
    (CLIP + SONG, ["add music"], "fade out the music", {"music_fo": 2000}),
    (CLIP + SONG, ["add music"], "remove the music", {"music": False, "audio": True}),
    (CLIP, [], "add BGM", {"music": True, "builtin": True, "audio": True}),
    (TALL, [], "add some background music", {"music": True, "builtin": True, "audio": True}),
    (CLIP + SONG, [], "加背景音乐，音量50%", {"music": True, "music_vol": 0.5}),
    (CLIP, [], "配乐", {"music": True, "builtin": True}),
    # ---- stills, slideshows, transitions
    (PHOTO, [], "turn this image into a 5-second clip", {"duration": 5, "motion": True}),
    (PHOTO, [], "make a 8 second video from this photo with a slow zoom in", {"duration": 8, "motion": True}),
    (PHOTO, [], "ken burns this pic for 4 secs", {"duration": 4, "motion": True}),
    (PHOTO, [], "图片转视频，6秒", {"duration": 6}),
    (PHOTOS, [], "slideshow with 3 seconds per image", {"duration": 9, "pieces": 3, "transitions": True}),
    (PHOTOS, [], "make a slideshow, 2 secs each, with crossfades", {"duration": 6, "transitions": True}),
    (PHOTOS, [], "每张图片3秒，做成幻灯片", {"duration": 9, "pieces": 3}),
    (PHOTOS, ["make a slideshow"], "add wipe transitions", {"transitions": True, "duration": 9}),
    (TWO_CLIPS, [], "fade between the clips", {"transitions": True, "duration": 10}),
    # ---- promos
    (SHOP, [], "make a promo", {"duration": 30, "music": True, "texts": 2}),
    (SHOP + SONG, [], "make a 15s ad with music", {"duration": 15, "music": True, "builtin": False}),
    (SHOP, [], "create a 20 second promotional video titled 'Grand Opening'",
     {"duration": 20, "texts_include": ["Grand Opening"]}),
    (SHOP, [], "做一个30秒的宣传视频", {"duration": 30, "music": True, "texts": 2}),
    # ---- several edits in one sentence
    (CLIP, [], "make it 9:16, add the title 'Hi' and slow it down",
     {"aspect": "9:16", "texts": ["Hi"], "duration": 8}),
    (CLIP, [], "first 4 seconds, mute, square", {"duration": 4, "audio": False, "aspect": "1:1"}),
    (CLIP + SONG, [], "cut the first second and add the song at 40%", {"duration": 5, "music_vol": 0.4}),
    # ---- status, history, pointers, the rest
    (CLIP, ["make it a gif"], "show tracks", {"unchanged": True, "said": "Timeline (1 track): 1. Video"}),
    (CLIP, ["make it a gif"], "状态", {"unchanged": True, "said": "Timeline"}),
    (CLIP, ["make it a gif", "make it 9:16"], "undo", {"format": "gif", "aspect": "16:9"}),
    (CLIP, ["convert it to a 720p mp4", "mute it"], "撤销", {"audio": True, "out": {"resolution": "720p"}}),
    (CLIP, [], "export", {"unchanged": True, "said": "/api/render/proxy/lambda"}),
    (CLIP, [], "how many credits do I have?", {"unchanged": True, "said": "credits"}),
    (CLIP, [], "can you do something nice", {"unchanged": True, "not_understood": True}),
    (CLIP, [], "hello there!", {"unchanged": True, "not_understood": True}),
    (CLIP, [], "你好", {"unchanged": True, "not_understood": True}),
]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    d = tmp_path_factory.mktemp("corpus")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=6", "-f", "lavfi", "-i", "sine=f=440:d=6",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "clip.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x180:r=30:d=4", "-f", "lavfi", "-i", "sine=f=550:d=4",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "talk.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=180x320:r=30:d=4", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(d / "tall.mp4"))
    ffmpeg("-f", "lavfi", "-i", "sine=f=330:d=8:sample_rate=44100", "-c:a", "libmp3lame", str(d / "song.mp3"))
    Image.new("RGB", (320, 240), (200, 60, 40)).save(d / "photo1.jpg")
    Image.new("RGB", (240, 320), (40, 160, 90)).save(d / "photo2.jpg")
    Image.new("RGB", (300, 300), (40, 60, 200)).save(d / "photo3.png")
    Image.new("RGBA", (200, 200), (255, 255, 255, 255)).save(d / "logo.png")
    library = Library(d)
    for name in ("clip.mp4", "talk.mp4", "tall.mp4", "song.mp3", "photo1.jpg", "photo2.jpg", "photo3.png",
                 "logo.png"):
        library.add(d / name)
    return library


def test_corpus_is_big_enough() -> None:
    chinese = [c for c in CORPUS if any("\u4e00" <= ch <= "\u9fff" for ch in c[2])]
    assert len(CORPUS) >= 80 and len(chinese) >= 15


@pytest.mark.parametrize(("uploads", "before", "text", "expect"), CORPUS, ids=[c[2][:48] for c in CORPUS])
def test_request(uploads: list[str], before: list[str], text: str, expect: dict[str, Any], library: Library,
                 config: EngineConfig, cpu_only: CodecChoice, tmp_path: Path) -> None:
    session = Session(library, uploads)
    for earlier in before:
        session.say(earlier)
    draft_before = session.draft
    steps = session.say(text)
    final = steps[-1]
    assert final.kind == "text" and final.text, steps
    failed = [s.response for s in steps if s.kind == "result" and s.response.get("status") != "success"]
    assert not failed, (failed, final.text)
    if expect.get("unchanged"):
        assert session.draft == draft_before and final.spent == 0
        assert not any(s.kind == "result" and s.draft for s in steps)
        if expect.get("not_understood"):
            assert not any(s.kind == "call" for s in steps)
        if "said" in expect:
            assert expect["said"] in final.text, final.text
        return
    assert session.draft != draft_before, f"{text!r} changed nothing: {final.text}"
    check_draft(session, expect)
    result = session.render(tmp_path / "out", config=config, codecs=cpu_only)
    check_file(result.path, expect)


def check_draft(session: Session, expect: dict[str, Any]) -> None:
    draft = session.draft
    tracks = draft.get("t", [])
    base = [t for t in tracks if t["tt"] == 0][0]["sg"]
    out = draft.get("m", {}).get("out", {})
    for key, value in expect.get("out", {}).items():
        assert out.get(key) == value, (key, out)
    if "loop" in expect:
        assert out.get("loop", 0) == expect["loop"]
    if "pieces" in expect:
        assert len(base) == expect["pieces"], base
    if "speed" in expect:
        assert base[0]["spd"] == pytest.approx(expect["speed"])
    if "rev" in expect:
        assert any(s.get("rev") for s in base) == expect["rev"]
    if "motion" in expect:
        assert all(s.get("mo") for s in base)
    if "transitions" in expect:
        assert all(s.get("tr", {}).get("in") for s in base[1:]) and len(base) > 1
    texts = [s["txt"] for t in tracks if t["tt"] == 7 for s in t["sg"]]
    if isinstance(expect.get("texts"), list):
        assert texts == expect["texts"]
    elif isinstance(expect.get("texts"), int):
        assert len(texts) == expect["texts"], texts
    for wanted in expect.get("texts_include", []):
        assert wanted in texts
    if "text_pos" in expect:
        assert [s["style"]["pos"] for t in tracks if t["tt"] == 7 for s in t["sg"]] == [expect["text_pos"]]
    if "text_span" in expect:
        [seg] = [s for t in tracks if t["tt"] == 7 for s in t["sg"]]
        assert (seg["st"], seg["st"] + seg["d"]) == expect["text_span"]
    music = [s for t in tracks if t["tt"] == 1 and not t.get("mute") for s in t["sg"]]
    if "music" in expect:
        assert bool(music) == expect["music"]
    if "builtin" in expect:
        assert (music[0]["n"] == "Built-in music bed") == expect["builtin"]
    for key, field in (("music_vol", "vol"), ("music_fi", "fi"), ("music_fo", "fo")):
        if key in expect:
            assert music[0][field] == pytest.approx(expect[key])


def check_file(path: Path, expect: dict[str, Any]) -> None:
    info = inspect_output(path)
    if "format" in expect:
        assert path.suffix == f".{expect['format']}"
    if "duration" in expect:
        assert abs(info.duration_s - expect["duration"]) <= 0.2, info
    if "audio" in expect and path.suffix in (".mp4", ".webm"):
        assert info.has_audio == expect["audio"], info
    if "aspect" in expect:
        w, h = (int(x) for x in expect["aspect"].split(":"))
        assert abs(info.width / info.height - w / h) < 0.05, info
