"""Chat over /run_sse, end to end against a real ``reelforge serve``.

The four seed workflows, from upload to the downloaded file, sending only what the seeds tell a
client to send; then the stream's rules: errors before it opens, heartbeats, streaming chunks,
a duplicate message joining the running turn, a disconnect that does not cancel the edit, undo,
credits frozen and settled, and a message nobody understands.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from engine.media.probe import inspect_output
from tests.apiserver import Client, Server
from tests.test_api_seeds import SEED_OUTPUT, download, skill, uploaded


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory):
    """Heartbeats every 0.05 s, so that even a short turn shows them; 30 credits per token."""
    env = {"REELFORGE_SSE_HEARTBEAT_S": "0.05", "REELFORGE_TOKEN_CREDITS": "30", "REELFORGE_LOCAL_WORKERS": "2"}
    with Server(tmp_path_factory.mktemp("chat") / "data", env=env) as server:
        yield server


def export(client: Client, tmp_path: Path, output: dict | None = None) -> Path:
    """The seeds' export of the draft in state, polled to the end and downloaded."""
    draft = client.state()["data"]["state"]["draft"]
    started = client.export(draft, output or SEED_OUTPUT)
    assert started["code"] == 0, started
    done = client.wait(started["id"])
    assert done["status"] == "completed", done
    return download(done["output"]["url"], tmp_path / f"out.{done['output']['format']}")


def photos(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = tmp_path / f"product-{index}.jpg"
        Image.new("RGB", (640, 480), (40 + 40 * index, 200 - 30 * index, 90)).save(path)
        paths.append(path)
    return paths


def test_best_gif_maker_chat_to_looping_gif_without_sound(chat_server, clients, media, tmp_path) -> None:
    client = clients(chat_server.base, headers=skill("best-gif-maker")).connect()
    uploaded(client, media.pattern)
    answer = client.chat("convert this clip into a looping GIF with no sound")
    assert answer.status == 200 and answer.content_type.startswith("text/event-stream")
    assert answer.calls() and all(c["name"] == "edit_multitrack" for c in answer.calls())
    assert [r["response"]["status"] for r in answer.responses()] == ["success"] * len(answer.calls())
    assert "GIF" in answer.final_text and 'output.format "gif"' in answer.final_text
    draft = client.state()["data"]["state"]["draft"]
    assert draft == answer.drafts()[-1] and draft["m"]["out"]["format"] == "gif"
    gif = inspect_output(export(client, tmp_path, {"format": "gif"}))
    assert gif.has_audio is False and abs(gif.duration_s - 3.0) < 0.2
    mp4 = inspect_output(export(client, tmp_path))                  # the seed's own body: a 720p MP4, silent
    assert (mp4.video_codec, mp4.height, mp4.has_audio) == ("h264", 720, False)


def test_video_compressor_gif_small_looping_gif(chat_server, clients, media, tmp_path) -> None:
    client = clients(chat_server.base, headers=skill("video-compressor-gif")).connect()
    uploaded(client, media.pattern)
    answer = client.chat("compress this video into a small looping GIF")
    assert answer.status == 200 and answer.final_text
    out = client.state()["data"]["state"]["draft"]["m"]["out"]
    assert out["format"] == "gif" and out["loop"] == 0
    path = export(client, tmp_path, {"format": "gif"})
    with Image.open(path) as im:
        assert im.format == "GIF" and im.info.get("loop") == 0 and im.width <= 360


def test_ai_video_maker_thirty_second_promo(chat_server, clients, tmp_path) -> None:
    client = clients(chat_server.base, headers=skill("ai-video-maker-gratis")).connect()
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (300, 300), (255, 255, 255, 255)).save(logo)
    uploaded(client, *photos(tmp_path, 5), logo)
    answer = client.chat("create a 30-second promotional video with music and text overlays")
    assert answer.status == 200, answer.raw
    state = client.state()["data"]["state"]
    draft = state["draft"]
    kinds = sorted(t["tt"] for t in draft["t"])
    assert kinds == [0, 1, 7, 7]                                   # pictures, music, title, closing text
    assert [m["source"] for m in state["generated_media"]] == ["generated"]    # the built-in music bed
    assert "built-in" in answer.final_text
    info = inspect_output(export(client, tmp_path))
    assert (info.video_codec, info.has_audio) == ("h264", True)
    assert min(info.width, info.height) == 1080 and abs(info.duration_s - 30.0) < 0.1


def test_image_to_free_image_to_clip(chat_server, clients, media, tmp_path) -> None:
    client = clients(chat_server.base, headers=skill("image-to-free")).connect()
    uploaded(client, *photos(tmp_path, 1))
    answer = client.chat("turn this image into a free downloadable video clip")
    assert answer.status == 200 and "5-second" in answer.final_text
    info = inspect_output(export(client, tmp_path))
    assert info.video_codec == "h264" and abs(info.duration_s - 5.0) < 0.1 and (info.width, info.height) == (1440, 1080)


def test_errors_before_the_stream_opens(chat_server, clients, media) -> None:
    client = clients(chat_server.base).connect()
    other = clients(chat_server.base).connect()
    body = {"app_name": "nemo_agent", "user_id": "me", "session_id": other.session_id,
            "new_message": {"parts": [{"text": "mute it"}]}}
    foreign = client.call("POST", "/run_sse", json=body)
    assert foreign.status_code == 404 and foreign.json()["code"] == 1002 and foreign.json()["detail"]
    no_token = httpx.post(chat_server.base + "/run_sse", json=body)
    assert no_token.json()["code"] == 1001
    bad = client.call("POST", "/run_sse", json={"session_id": client.session_id, "new_message": {"parts": []}})
    assert bad.status_code == 422 and bad.json()["code"] == 422
    before = client.state()["data"]["draft_version"]
    uploaded(client, media.pattern)
    for _ in range(20):                                             # 30 credits; each edit costs some
        answer = client.chat("speed it up 1.1x") if _ % 2 else client.chat("slow it down to 0.9x")
        if answer.status != 200:
            break
    assert answer.status == 403 and answer.error["code"] == 2001 and answer.error["data"]["bind_id"]
    credits = client.json("GET", "/api/credits/balance/simple")["data"]
    assert credits["frozen"] == 0 and credits["available"] >= 0
    assert client.state()["data"]["draft_version"] > before


def test_stream_shape_heartbeats_and_streaming_chunks(chat_server, clients, media) -> None:
    client = clients(chat_server.base).connect()
    uploaded(client, media.pattern, media.music)
    answer = client.chat("add background music at 30% and a title 'Hello' at the top", streaming=True, camel=True)
    assert answer.status == 200
    events = answer.events
    assert all(e["author"] == "nemo_agent" and e["invocationId"].startswith("e-") and len(e["id"]) == 8
               for e in events)
    assert all(set(e["actions"]) >= {"stateDelta", "artifactDelta", "requestedAuthConfigs"} for e in events)
    partial = [e for e in events if e.get("partial")]
    assert partial and "".join(e["content"]["parts"][0]["text"] for e in partial) == answer.final_text
    assert events[-1]["content"]["parts"][0]["text"] == answer.final_text and not events[-1].get("partial")
    draft = answer.drafts()[-1]
    assert [s["txt"] for t in draft["t"] if t["tt"] == 7 for s in t["sg"]] == ["Hello"]
    music = [t for t in draft["t"] if t["tt"] == 1][0]["sg"][0]
    assert music["vol"] == 0.3


def test_duplicate_message_joins_and_disconnect_does_not_cancel(chat_server, clients, tmp_path) -> None:
    client = clients(chat_server.base, headers=skill("ai-video-maker-gratis")).connect()
    uploaded(client, *photos(tmp_path, 4))
    before = client.json("GET", "/api/credits/balance/simple")["data"]["available"]
    answers: dict[str, list] = {"promo": [], "slides": []}

    def send(kind: str, text: str) -> None:
        answers[kind].append(client.chat(text))

    first = threading.Thread(target=send, args=("promo", "make a 20 second promo"))
    first.start()
    time.sleep(0.05)                  # the promo runs (music, checks); the same message twice waits behind it
    threads = [threading.Thread(target=send, args=("slides", "make a slideshow with 2 seconds per image"))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in [first, *threads]:
        thread.join()
    one, two = answers["slides"]
    assert one.status == two.status == 200 and one.events == two.events     # the second joined the first
    assert ": heartbeat\ndata:\n\n" in one.raw                            # heartbeats while it waited
    spent = before - client.json("GET", "/api/credits/balance/simple")["data"]["available"]
    assert spent == 10 + 5                                                   # the promo, and one slideshow
    draft = client.state()["data"]["state"]["draft"]
    assert [s["d"] for s in draft["t"][0]["sg"]] == [2000] * 4                # the slideshow came last
    version = client.state()["data"]["draft_version"]
    body = {"app_name": "nemo_agent", "user_id": "me", "session_id": client.session_id,
            "new_message": {"parts": [{"text": "add the title 'Gone Away' at the bottom"}]}}
    headers = {**client.headers, "Authorization": f"Bearer {client.token}"}
    with httpx.stream("POST", chat_server.base + "/run_sse", json=body, headers=headers) as reply:
        assert reply.status_code == 200                             # hang up before reading a byte
    deadline = time.monotonic() + 30
    while client.state()["data"]["draft_version"] == version and time.monotonic() < deadline:
        time.sleep(0.1)
    texts = [s["txt"] for t in client.state()["data"]["state"]["draft"]["t"] if t["tt"] == 7 for s in t["sg"]]
    assert "Gone Away" in texts


def test_undo_show_tracks_and_not_understood(chat_server, clients, media) -> None:
    client = clients(chat_server.base).connect(language="zh")
    uploaded(client, media.pattern)
    client.chat("convert to gif")
    gif_draft = client.state()["data"]["state"]["draft"]
    client.chat("make it 9:16")
    assert client.state()["data"]["state"]["draft"]["m"]["aspect"] == "9:16"
    undo = client.chat("undo")
    assert undo.status == 200 and client.state()["data"]["state"]["draft"] == gif_draft
    shown = client.chat("状态")
    assert shown.final_text == "Timeline (1 track): 1. Video: pattern (0-3s)"
    credits = client.json("GET", "/api/credits/balance/simple")["data"]
    version = client.state()["data"]["draft_version"]
    lost = client.chat("can you do something nice")
    assert lost.status == 200 and not lost.calls() and lost.final_text
    assert client.state()["data"]["draft_version"] == version
    assert client.json("GET", "/api/credits/balance/simple")["data"] == credits
    chinese = client.chat("只保留前2秒")
    assert chinese.status == 200 and "2" in chinese.final_text and not chinese.final_text.isascii()
    assert inspect_output_len(client) == 2000


def inspect_output_len(client: Client) -> int:
    draft = client.state()["data"]["state"]["draft"]
    return max(s["st"] + s["d"] for t in draft["t"] for s in t["sg"])


def test_a_turn_cut_short_by_a_crash_gives_its_credits_back(tmp_path: Path) -> None:
    from api.chat import Chat
    from api.mediagate import MediaGate
    from api.store import Store
    from engine.config import EngineConfig, ProbeLimits
    from engine.model.cost import Caps

    store = Store(tmp_path / "state.db")
    token, _ = store.issue_token("client-1", 30, 3600)
    session = store.create_session(token.user_id, "project", "en")
    store.start_turn("turn_crashed", session.id, token.token, "make a promo", 10)      # the server dies here
    frozen = store.token(token.token)
    assert (frozen.available, frozen.frozen) == (20, 10)
    Chat(store, tmp_path / "media", 15, None, MediaGate(ProbeLimits(), 1), Caps.of(EngineConfig("ffmpeg"))).recover()
    back = store.token(token.token)
    assert (back.available, back.frozen) == (30, 0) and store.running_turns() == []
