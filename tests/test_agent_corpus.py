"""The chat corpus: realistic requests (English and Chinese, typos and casual phrasing included), each
checked by its effect: the draft's tracks, and the file the draft renders to (duration, format,
sound, shape). Every request runs through the rules planner, the edit tools and the engine's
checks exactly as a /run_sse turn does (tests/agent_harness.py); the drafts are then rendered
small and probed.

Two lists: CORPUS, the agent's own, and FRESH, written afterwards from the seeds' workflows as users
and relaying agents phrase them, with the checks that matter for each (which sound is heard, the
frames of a boomerang or a repeat, a cropped or blurred region, a size target through an export at
full size, and a reply that names what was not done). The FRESH pass rate:
``python -m pytest -q -p no:cacheprovider tests/test_agent_corpus.py -k test_fresh_request``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageColor

from engine.config import EngineConfig
from engine.encode.encoders import CodecChoice
from engine.media.probe import inspect_output
from engine.pipeline.loop_seam import SEARCH_SHARE
from tests.agent_harness import Library, Session
from tests.conftest import audio_samples, ffmpeg, rms, video_frames

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
    (CLIP, [], "convert this clip into a looping GIF with no sound",
     {"format": "gif", "duration": 6, "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, [], "converting short video clips into shareable GIFs for social media creators",
     {"format": "gif", "duration": 6}),
    (CLIP, [], "convert a 10-second screen recording or short clip into a 720p MP4",
     {"format": "mp4", "out": {"resolution": "720p"}}),
    (CLIP, [], "compress this video into a small looping GIF",
     {"format": "gif", "loop": 0, "out": {"width": 360, "loop_seam": "auto"}}),
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
    (CLIP, [], "make it a gif", {"format": "gif", "duration": 6, "out": {"loop_seam": None}}),
    (CLIP, [], "turn this into a GIF at 10 fps, 320px wide", {"format": "gif", "out": {"fps": 10, "width": 320}}),
    (CLIP, [], "gif pls, looping, no audio", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, [], "convert to a gif that plays once", {"format": "gif", "loop": -1, "out": {"loop_seam": None}}),
    (CLIP, [], "make a gif under 2MB", {"format": "gif", "out": {"max_mb": 2}}),
    (CLIP, [], "i need a compressed gif, less than 1.5 mb", {"format": "gif", "out": {"max_mb": 1.5}}),
    (CLIP, [], "first 3 seconds as a gif", {"format": "gif", "duration": 3}),
    (CLIP, [], "make a gif of seconds 2 to 5", {"format": "gif", "duration": 3}),
    (CLIP, [], "convert to giff, loopin", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, [], "转成GIF，去掉声音，15帧", {"format": "gif", "out": {"fps": 15}}),
    (CLIP, [], "做成循环的GIF动图", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto"}}),
    # ---- loops without a seam: a loop asked for ends where the picture best matches the start
    (CLIP, [], "make it a seamless looping gif", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, ["make it a gif"], "make it loop", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, ["convert this clip into a looping GIF"], "actually make it an mp4",
     {"format": "mp4", "duration": 6, "out": {"loop_seam": None}}),
    (CLIP, ["convert this clip into a looping GIF"], "make it play once",
     {"format": "gif", "duration": 6, "loop": -1, "out": {"loop_seam": None}}),
    (CLIP, [], "把这个视频转成无缝循环的GIF", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, [], "做成GIF，要无缝循环，10帧", {"format": "gif", "loop": 0, "out": {"loop_seam": "auto", "fps": 10}}),
    (CLIP, [], "转成GIF动图", {"format": "gif", "duration": 6, "out": {"loop_seam": None}}),
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
    (CLIP, [], "make it look better", {"enhance": {"picture": True}}),
    (CLIP, [], "hello there!", {"unchanged": True, "not_understood": True}),
    (CLIP, [], "你好", {"unchanged": True, "not_understood": True}),
]


# ---------------------------------------------------------------- the fresh corpus
# Written from the seeds' workflows and issue 11's list of failures, not from the planner's vocabulary:
# requests as users type them and as LLM agents relay them (polite, verbose, run-on), a third in Chinese,
# with typos, numbers in words, clock times, and things the agent cannot do. Each is checked by its effect
# on the file the draft renders to, and the reply is held to what the draft shows.

LONG = ["long.mp4"]                       # 20 s, 320x180, 660 Hz tone
CAMERA = ["camera.mp4"]                   # 4 s, 480x270, noisy like camera footage, 440 Hz tone
QUAD = ["quad.mp4"]                       # 4 s, 320x180: red, green / blue, white quarters; 440 Hz tone
CHECKER = ["checker.mp4"]                 # 4 s, 320x180, 16 px black-and-white checkerboard; 440 Hz tone
DIM = ["dim.mp4"]                         # 4 s, 320x180, dark and flat picture, quiet 440 Hz tone
FRESH_MEDIA = ("long.mp4", "camera.mp4", "quad.mp4", "checker.mp4", "dim.mp4")
TONES = {"clip.mp4": 440, "talk.mp4": 550, "song.mp3": 330, "long.mp4": 660, "camera.mp4": 440, "quad.mp4": 440,
         "checker.mp4": 440, "dim.mp4": 440}
QUARTERS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "white": (240, 240, 240)}
SKILL_RESOLUTIONS = {"best-gif-maker": "720p", "video-compressor-gif": "720p"}   # api.settings' defaults
PROMO_TITLE = ("title", "标题")

# (uploads, earlier messages, the request, what must be true afterwards). Besides CORPUS's keys:
#   said: words the reply must contain (a tuple: any one of them), e.g. the part it could not do;
#   tone / no_tone / tones: which sound is heard (the uploaded song's tone, the clip's own);
#   same_as_start: the draft is the uploads' starting draft again; text_colour / not_colour / text_pixels;
#   boomerang, repeat (start_s, end_s, times), crop {present, absent}, blur {blurred, sharp} (boxes of the frame),
#   brighter / contrast / louder (against the starting draft, rendered the same way);
#   size (format, MB, X-Skill-Source): exported as a seed client does, quality high, at full size;
#   title_or_said: a title is on the draft, or the reply asks about it; music_fades_out: the music ends in a fade;
#   may_fail / may_be_unchanged: an op may answer an error (undo with nothing to undo) / leave the draft as it was.
FRESH: list[tuple[list[str], list[str], str, dict[str, Any]]] = [
    # ---- trims: typos, clock times, numbers in words
    (LONG, [], "keep the frist 15 seconds", {"duration": 15, "audio": True, "tone": 660}),
    (LONG, [], "trim it 00:00:02 to 00:00:07 and mute it", {"duration": 5, "audio": False}),
    (LONG, [], "just the part from 0:05 to 0:12 please", {"duration": 7, "audio": True}),
    (LONG, [], "can you get rid of the first two and a half seconds", {"duration": 17.5}),
    (CLIP, [], "trim the last second off", {"duration": 5}),
    (LONG, [], "only keep from 00:00:10 to the end", {"duration": 10}),
    (LONG, [], "只要前十五秒", {"duration": 15}),
    (LONG, [], "把最后五秒剪掉", {"duration": 15}),
    (LONG, [], "截取00:00:03到00:00:08这一段", {"duration": 5}),
    (LONG, [], "The user would like you to keep only the section between 00:00:04 and 00:00:10 of the uploaded "
               "video. Please also remove the audio.", {"duration": 6, "audio": False}),
    # ---- GIF, boomerang, loop
    (CLIP, [], "Boomerang GIF out of the first 2 seconds", {"format": "gif", "duration": 4, "boomerang": True}),
    (CLIP, [], "make a gif from the first three seconds that loops forever",
     {"format": "gif", "duration": 3, "loop": 0, "out": {"loop_seam": "auto"}}),
    (CLIP, [], "turn secs 1-4 into a looping gif with no sound, 12 fps",
     {"format": "gif", "duration": 3, "loop": 0, "out": {"fps": 12, "loop_seam": "auto"}}),
    (LONG, [], "gif of 0:10 to 0:13 pls, loop it", {"format": "gif", "duration": 3, "loop": 0,
                                                     "out": {"loop_seam": "auto"}}),
    (CLIP, [], "boomrang it", {"duration": 12, "boomerang": True}),
    (CLIP, [], "把前两秒做成来回播放的GIF", {"format": "gif", "duration": 4, "boomerang": True}),
    (CLIP, [], "做一个只播放一次的GIF", {"format": "gif", "loop": -1}),
    # ---- repeat a range
    (CLIP, [], "Repeat the first 2 seconds three times", {"format": "mp4", "duration": 10, "repeat": (0, 2, 3)}),
    (CLIP, [], "loop the first second 4 times then let the rest play", {"format": "mp4", "duration": 9,
                                                                       "repeat": (0, 1, 4)}),
    (CLIP, [], "play the whole thing twice", {"format": "mp4", "duration": 12, "repeat": (0, 6, 2)}),
    (CLIP, [], "让第1秒到第3秒连续播放三次", {"format": "mp4", "duration": 10, "repeat": (1, 3, 3)}),
    # ---- speed and direction
    (CLIP, [], "speed it up to one and a half times", {"duration": 4, "speed": 1.5}),
    (LONG, [], "make it play 4x faster", {"duration": 5}),
    (CLIP, [], "half speed slow-mo pls", {"duration": 12}),
    (CLIP, [], "播放速度调成两倍", {"duration": 3}),
    (CLIP, [], "加速到三倍", {"duration": 2}),
    (CLIP, [], "reverse it and make it a gif", {"format": "gif", "rev": True, "duration": 6}),
    (CLIP, [], "让视频倒着放", {"rev": True, "duration": 6}),
    # ---- sound and music
    (CLIP + SONG, [], "replace the original sound with my music", {"duration": 6, "tone": 330, "no_tone": 440}),
    (CLIP + SONG, [], "mute the clip and put my song on instead", {"duration": 6, "tone": 330, "no_tone": 440}),
    (CLIP + SONG, [], "add the song at forty percent", {"music_vol": 0.4, "tones": (330, 440), "duration": 6}),
    (CLIP + SONG, [], "add my musci with a three second fade in and fade it out at the end",
     {"music": True, "music_fi": 3000, "music_fades_out": True, "tones": (330, 440)}),
    (CLIP + SONG, ["add the song as background music"], "turn the music down to 15 percent", {"music_vol": 0.15}),
    (CLIP, [], "get rid of the sound completely", {"audio": False, "duration": 6}),
    (CLIP + SONG, [], "用我上传的歌当背景音乐，音量百分之三十", {"music_vol": 0.3, "tones": (330, 440)}),
    (CLIP + SONG, [], "把原声去掉，换成我上传的音乐", {"tone": 330, "no_tone": 440}),
    (CLIP, [], "把声音去掉", {"audio": False}),
    (CLIP, [], "将视频改成方形，并将声音关掉", {"aspect": "1:1", "audio": False}),
    (CLIP + SONG, [], "背景音乐用我的歌，音量百分之四十，结尾淡出", {"music_vol": 0.4, "music_fades_out": True,
                                                     "tones": (330, 440)}),
    (CLIP + SONG, ["加上我的背景音乐"], "音乐小声一点，大概百分之二十", {"music_vol": 0.2}),
    # ---- shape
    (CLIP, [], "make it veritcal for tiktok", {"aspect": "9:16", "audio": True}),
    (CLIP, [], "change to a square format for an Instagram post and keep the sound", {"aspect": "1:1",
                                                                                      "audio": True}),
    (TALL, [], "把它改成横屏16:9", {"aspect": "16:9"}),
    (CLIP, [], "做成抖音竖屏的", {"aspect": "9:16"}),
    # ---- titles and captions: text, colour, position
    (CLIP, [], 'add a caption "Recorded live at Red Rocks" at the bottom',
     {"texts": ["Recorded live at Red Rocks"], "text_pos": "bottom", "not_colour": "red"}),
    (CLIP, [], "put Recorded live at Red Rocks as the caption", {"texts": ["Recorded live at Red Rocks"],
                                                                 "not_colour": "red"}),
    (CLIP, [], "add a yellow title that says Black Friday Deals at the top",
     {"texts": ["Black Friday Deals"], "text_pos": "top", "text_colour": "yellow"}),
    (CLIP, [], "title: Green Day Tribute Night", {"texts": ["Green Day Tribute Night"], "not_colour": "green"}),
    (CLIP, [], "add a titel 'Welcome' at teh top", {"texts": ["Welcome"], "text_pos": "top"}),
    (CLIP, [], "加一行红色大字：限时优惠", {"texts": ["限时优惠"], "text_colour": "red"}),
    (CLIP, [], "在视频顶部加上标题：夏季新品发布", {"texts": ["夏季新品发布"], "text_pos": "top"}),
    (PHOTO, [], "底部加白色字幕“欢迎来到我们的店”",
     {"texts": ["欢迎来到我们的店"], "text_pos": "bottom", "text_colour": "white", "text_pixels": "bottom"}),
    (CLIP, ["加标题「周末特卖」"], "把标题改成“超级大促”", {"texts": ["超级大促"]}),
    # ---- slideshows: seconds per photo or the whole length
    (PHOTOS, [], "a 20 second slideshow of these", {"duration": 20, "pieces": 3}),
    (PHOTOS, [], "make a slideshow a minute and a half long", {"duration": 90, "pieces": 3}),
    (PHOTOS, [], "slideshow, two and a half seconds per photo", {"duration": 7.5, "pieces": 3}),
    (PHOTOS, [], "The user has uploaded three photos and would like a slideshow of about 12 seconds in total, "
                 "with fade transitions between the photos.", {"duration": 12, "pieces": 3, "transitions": True}),
    (PHOTOS, [], "用这三张照片做一个三十秒的幻灯片", {"duration": 30, "pieces": 3}),
    (PHOTOS, [], "每张照片停留四秒，做成幻灯片", {"duration": 12, "pieces": 3}),
    # ---- a photo to a clip
    (PHOTO, [], "turn this picture into a ten second video with a slow zoom", {"duration": 10, "motion": True}),
    (PHOTO, [], "make this photo a 6 sec clip for reels", {"duration": 6, "aspect": "9:16"}),
    (PHOTO, [], "把这张图片做成8秒的视频", {"duration": 8}),
    # ---- promos
    (SHOP + SONG, [], "make a 20 second promo with my song and the title 'Grand Opening'",
     {"duration": 20, "texts_include": ["Grand Opening"], "music": True, "builtin": False, "tones": (330,)}),
    (SHOP, [], "Please create a thirty second promotional video from the product photos and the logo, with "
               "background music and a closing line 'Shop now'.",
     {"duration": 30, "music": True, "texts_include": ["Shop now"]}),
    (SHOP, [], "做一个15秒的宣传片，标题是“新店开业”", {"duration": 15, "texts_include": ["新店开业"]}),
    # ---- size targets that must survive an export with quality "high"
    (CAMERA, [], "Compress it to under 2 MB to email it", {"size": ("mp4", 2.0, None), "duration": 4}),
    (CAMERA, [], "make it a gif under 2mb", {"size": ("gif", 2.0, None), "format": "gif", "duration": 4}),
    (CAMERA, [], "export as webm, needs to be less than 2 MB", {"size": ("webm", 2.0, None), "format": "webm",
                                                                "duration": 4}),
    (CAMERA, [], "压缩到1.5MB以内，我要发微信", {"size": ("mp4", 1.5, "video-compressor-gif"), "duration": 4}),
    # ---- a fixed region: crop, blur
    (QUAD, [], "crop it to the top left quarter", {"crop": {"present": ["red"], "absent": ["green", "blue", "white"]}}),
    (QUAD, [], "只保留画面的右半边", {"crop": {"present": ["green", "white"], "absent": ["red", "blue"]}}),
    (CHECKER, [], "blur the top right corner, there's a logo there",
     {"blur": {"blurred": (0.88, 0.0, 1.0, 0.12), "sharp": (0.0, 0.7, 0.3, 1.0)}}),
    (CHECKER, [], "把左下角模糊掉，那里有车牌",
     {"blur": {"blurred": (0.0, 0.88, 0.12, 1.0), "sharp": (0.7, 0.0, 1.0, 0.3)}}),
    # ---- vague requests: enhance
    (DIM, [], "make it look better", {"enhance": {"picture": True}, "contrast": True, "duration": 4}),
    (DIM, [], "fix the colours and the sound", {"enhance": {"picture": True, "sound": True}, "contrast": True,
                                                "louder": True}),
    (DIM, [], "can you enhance the audio, it's way too quiet", {"louder": True}),
    (DIM, [], "画面太暗了，帮我调亮一点，声音也太小", {"brighter": True, "louder": True}),
    # ---- run-ons: every clause done, or named in the reply
    (LONG + SONG, [], "trim to the first 15 s, make it vertical, put a title on, throw the song on at 40 percent",
     {"duration": 15, "aspect": "9:16", "music_vol": 0.4, "title_or_said": True}),
    (CLIP + SONG, [], "The user would like you to make this video square, add their uploaded song as background "
                      "music at 25% volume, and please also add the caption 'Summer 2024' at the bottom.",
     {"aspect": "1:1", "music_vol": 0.25, "texts": ["Summer 2024"], "text_pos": "bottom"}),
    (CLIP, [], "make it vertical and 2x speed and add a title 'Fast'", {"aspect": "9:16", "duration": 3,
                                                                        "texts": ["Fast"]}),
    (CLIP + SONG, [], "先把前一秒剪掉，然后变成竖屏，再加上我的音乐，音量百分之五十，最后加个标题：周末快乐",
     {"duration": 5, "aspect": "9:16", "music_vol": 0.5, "texts": ["周末快乐"]}),
    (CLIP, [], "前三秒，静音，做成方形的GIF", {"duration": 3, "aspect": "1:1", "format": "gif"}),
    # ---- state, undo, start over
    (CLIP + SONG, ["add the song at 40%", "make it vertical"], "what's on the timeline right now?",
     {"unchanged": True, "said": [("Timeline", "时间线")]}),
    (CLIP, ["做成GIF"], "看一下现在的轨道", {"unchanged": True, "said": [("Timeline", "时间线", "轨道")]}),
    (CLIP, ["trim it to the first 2 seconds"], "undo that", {"same_as_start": True, "duration": 6}),
    (CLIP, ["trim it to the first 2 seconds", "undo that"], "now make it a gif", {"format": "gif", "duration": 6}),
    (CLIP, ["make it a gif", "add a title 'Hi'", "slow it down"], "start over",
     {"same_as_start": True, "duration": 6, "texts": [], "format": "mp4", "audio": True}),
    (CLIP, ["mute it", "start over"], "undo", {"audio": False, "duration": 6}),
    (CLIP, ["make it vertical", "把声音去掉"], "撤销", {"aspect": "9:16", "audio": True}),
    (CLIP, ["加标题「你好」", "倒放"], "重新开始", {"same_as_start": True, "texts": [], "rev": False}),
    (CLIP, [], "undo", {"unchanged": True, "may_fail": True, "said": [("nothing",)]}),
    (CLIP, ["make it a gif"], "show me the tracks pls", {"unchanged": True, "said": [("Timeline", "时间线")]}),
    # ---- what the agent cannot do: said so, and nothing unrelated done
    (CLIP, [], "blur the faces", {"unchanged": True, "said": [("face",)]}),
    (CLIP, [], "upscale to 4K", {"said": [("4K", "4k")], "may_be_unchanged": True}),
    (CLIP, [], "remove the background person", {"unchanged": True, "said": [("person", "people")]}),
    (CLIP, [], "把视频里的人脸打码", {"unchanged": True, "said": [("人脸",)]}),
    (CLIP, [], "trim to the first 3 seconds and blur the faces", {"duration": 3, "said": [("face",)]}),
    (CLIP, [], "去掉水印并且把画质提升到4K", {"said": [("水印",), ("4K", "4k")], "may_be_unchanged": True}),
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
    _fresh_media(d)
    library = Library(d)
    for name in ("clip.mp4", "talk.mp4", "tall.mp4", "song.mp3", "photo1.jpg", "photo2.jpg", "photo3.png",
                 "logo.png", *FRESH_MEDIA):
        library.add(d / name)
    return library


def _fresh_media(d: Path) -> None:
    """The fresh corpus's own sources: a longer clip, camera-like noisy footage (a size target binds on it),
    coloured quarters (crops), a fine checkerboard (blurs) and a dark, flat, quiet clip (enhance)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=20", "-f", "lavfi", "-i", f"sine=f={TONES['long.mp4']}:d=20",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "long.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=480x270:r=30:d=4", "-f", "lavfi", "-i", f"sine=f={TONES['camera.mp4']}:d=4",
           "-vf", "noise=alls=30:allf=t+u", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-shortest", str(d / "camera.mp4"))
    quarters = Image.new("RGB", (320, 180), QUARTERS["red"])
    quarters.paste(QUARTERS["green"], (160, 0, 320, 90))
    quarters.paste(QUARTERS["blue"], (0, 90, 160, 180))
    quarters.paste(QUARTERS["white"], (160, 90, 320, 180))
    quarters.save(d / "quarters.png")
    board = Image.fromarray(np.kron((np.indices((12, 20)).sum(axis=0) % 2) * 255,
                                    np.ones((16, 16))).astype(np.uint8)[:180, :320]).convert("RGB")
    board.save(d / "board.png")
    for name, picture in (("quad.mp4", "quarters.png"), ("checker.mp4", "board.png")):
        ffmpeg("-loop", "1", "-framerate", "30", "-i", str(d / picture), "-f", "lavfi", "-i",
               f"sine=f={TONES[name]}:d=4", "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
               "-shortest", str(d / name))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=4", "-f", "lavfi", "-i",
           f"aevalsrc=0.02*sin(2*PI*{TONES['dim.mp4']}*t):s=44100:d=4", "-vf",
           "eq=contrast=0.5:brightness=-0.3:saturation=0.5",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "dim.mp4"))


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
    check_file(result.path, expect, session.draft)


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
    if "enhance" in expect:
        enhance = draft.get("m", {}).get("enhance") or {}
        if expect["enhance"].get("picture"):
            assert enhance.get("picture") is True, draft.get("m")
        if expect["enhance"].get("sound"):
            assert enhance.get("loudness") is not None, draft.get("m")


def check_file(path: Path, expect: dict[str, Any], draft: dict[str, Any] | None = None) -> None:
    """The rendered file's format, length, sound and shape. A GIF whose loop seam is auto may end up to
    SEARCH_SHARE of its length early (where its picture best matches the start)."""
    info = inspect_output(path)
    if "format" in expect:
        assert path.suffix == f".{expect['format']}"
    if "duration" in expect:
        seam = ((draft or {}).get("m") or {}).get("out", {}).get("loop_seam")
        early = expect["duration"] * SEARCH_SHARE if seam == "auto" else 0.0
        assert -0.2 - early <= info.duration_s - expect["duration"] <= 0.2, info
    if "audio" in expect and path.suffix in (".mp4", ".webm"):
        assert info.has_audio == expect["audio"], info
    if "aspect" in expect:
        w, h = (int(x) for x in expect["aspect"].split(":"))
        assert abs(info.width / info.height - w / h) < 0.05, info


# ---------------------------------------------------------------- the fresh corpus's test


FRESH_KEYS = {"format", "duration", "audio", "aspect", "out", "loop", "pieces", "speed", "rev", "motion", "transitions",
              "texts", "texts_include", "text_pos", "music", "builtin", "music_vol", "music_fi", "enhance", "unchanged",
              "said", "may_fail", "may_be_unchanged", "same_as_start", "title_or_said", "music_fades_out",
              "text_colour", "not_colour", "text_pixels", "tone", "no_tone", "tones", "boomerang", "repeat", "crop",
              "blur", "brighter", "contrast", "louder", "size"}


def test_fresh_corpus_is_big_enough() -> None:
    chinese = [c for c in FRESH if any("\u4e00" <= ch <= "\u9fff" for ch in c[2])]
    assert len(FRESH) >= 64 and len(chinese) * 3 >= len(FRESH)
    assert all(set(c[3]) <= FRESH_KEYS for c in FRESH), [set(c[3]) - FRESH_KEYS for c in FRESH]
    assert not {c[2] for c in FRESH} & {c[2] for c in CORPUS if c[1] == []} - {"make it look better"}


@pytest.mark.parametrize(("uploads", "before", "text", "expect"), FRESH,
                         ids=[f"f{i:02d} {c[2][:44]}" for i, c in enumerate(FRESH)])
def test_fresh_request(uploads: list[str], before: list[str], text: str, expect: dict[str, Any], library: Library,
                       config: EngineConfig, cpu_only: CodecChoice, tmp_path: Path) -> None:
    check_request(uploads, before, text, expect, library, config, cpu_only, tmp_path)


def check_request(uploads: list[str], before: list[str], text: str, expect: dict[str, Any], library: Library,
                  config: EngineConfig, cpu_only: CodecChoice, tmp_path: Path) -> None:
    """Say the earlier messages, then the request; hold the reply, the draft and the rendered (or exported) file
    to ``expect``."""
    session = Session(library, uploads)
    for earlier in before:
        session.say(earlier)
    draft_before = copy.deepcopy(session.draft)
    steps = session.say(text)
    reply = session.reply(steps)
    assert reply, steps
    if expect.get("every_part_done"):
        assert not any(mark in reply for mark in NOT_DONE_MARKS), f"a part it can do is said back as not done: {reply}"
    for wanted in expect.get("said", []):
        words = (wanted,) if isinstance(wanted, str) else wanted
        assert any(w.lower() in reply.lower() for w in words), f"the reply does not mention {words}: {reply}"
    failed = [s.response for s in steps if s.kind == "result" and s.response.get("status") != "success"]
    assert expect.get("may_fail") or not failed, (failed, reply)
    if expect.get("unchanged") or (expect.get("may_be_unchanged") and session.draft == draft_before):
        assert session.draft == draft_before, f"{text!r} changed the draft: {reply}"
        assert not any(s.kind == "result" and s.draft for s in steps) and steps[-1].spent == 0
        return
    assert session.draft != draft_before, f"{text!r} changed nothing: {reply}"
    if expect.get("same_as_start"):
        assert session.draft == session.start
    if expect.get("title_or_said"):
        assert texts_of(session.draft) or any(w in reply.lower() for w in PROMO_TITLE), reply
    check_draft(session, expect)
    check_text_style(session.draft, expect)
    for words, span in expect.get("text_spans", {}).items():
        segments = [(s["st"], s["st"] + s["d"]) for s in texts_of(session.draft) if s["txt"] == words]
        assert segments == [span], (words, segments)
    if expect.get("music_fades_out"):
        music = [s for t in session.draft["t"] if t["tt"] == 1 and not t.get("mute") for s in t["sg"]]
        assert music and music[-1].get("fo", 0) > 0, music
    if "size" in expect:
        fmt, target_mb, skill = expect["size"]
        assert session.draft.get("m", {}).get("out", {}).get("max_mb") == pytest.approx(target_mb)
        result = session.export(tmp_path / "export", {"format": fmt, "quality": "high"}, config=config,
                                codecs=cpu_only, skill=skill, skill_resolutions=SKILL_RESOLUTIONS)
        size = result.path.stat().st_size
        assert size <= target_mb * 1_000_000, f"{size / 1e6:.2f} MB over the {target_mb} MB asked for ({fmt})"
        assert size >= target_mb * 1_000_000 * 0.2, f"{size / 1e6:.2f} MB: far smaller than needed"
        check_file(result.path, expect, session.draft)
        check_claims(reply, session, result.path)
        return
    result = session.render(tmp_path / "out", config=config, codecs=cpu_only)
    check_file(result.path, expect, session.draft)
    check_sound(result.path, expect)
    check_pixels(session, result.path, expect, tmp_path, config, cpu_only)
    check_claims(reply, session, result.path)


def texts_of(draft: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for t in draft.get("t", []) if t.get("tt") == 7 for s in t.get("sg", [])]


def _colour_is(name: str, rgb: tuple[int, ...]) -> bool:
    r, g, b = rgb[:3]
    return {"red": r > 170 and g < 100 and b < 100, "yellow": r > 170 and g > 170 and b < 120,
            "green": g > 120 and r < 100 and b < 100, "white": min(r, g, b) > 200}[name]


def check_text_style(draft: dict[str, Any], expect: dict[str, Any]) -> None:
    colours = [ImageColor.getrgb(str(s.get("style", {}).get("color", "#FFFFFF"))) for s in texts_of(draft)]
    if "text_colour" in expect:
        assert colours and all(_colour_is(expect["text_colour"], c) for c in colours), colours
    if "not_colour" in expect:
        assert not any(_colour_is(expect["not_colour"], c) for c in colours), colours


# ---- sound: which tone is heard


def tone_energy(path: Path) -> dict[int, float]:
    """Energy near each corpus tone in the file's sound (all channels mixed), from its spectrum."""
    samples = audio_samples(path).mean(axis=0)
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return {f: float(spectrum[(freqs > f - 20) & (freqs < f + 20)].sum()) for f in sorted(set(TONES.values()))}


def check_sound(path: Path, expect: dict[str, Any]) -> None:
    if not any(k in expect for k in ("tone", "no_tone", "tones")):
        return
    assert inspect_output(path).has_audio, "no sound in the file"
    energy = tone_energy(path)
    loudest = max(energy.values())
    if "tone" in expect:
        assert energy[expect["tone"]] == loudest, energy
    if "no_tone" in expect:
        assert energy[expect["no_tone"]] < 0.02 * loudest, f"the clip's own sound is still there: {energy}"
    for tone in expect.get("tones", ()):
        assert energy[tone] > 0.01 * loudest, f"{tone} Hz not heard: {energy}"


# ---- pixels


def _frames(path: Path) -> list[np.ndarray]:
    return video_frames(path)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def _box(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    return img[int(y0 * h):max(int(y1 * h), int(y0 * h) + 1), int(x0 * w):max(int(x1 * w), int(x0 * w) + 1)]


def _share(img: np.ndarray, rgb: tuple[int, int, int]) -> float:
    """The part of the picture within a short distance of a colour."""
    distance = np.sqrt(((img.astype(float) - np.array(rgb, dtype=float)) ** 2).sum(axis=-1))
    return float((distance < 70).mean())


def check_pixels(session: Session, path: Path, expect: dict[str, Any], tmp_path: Path, config: EngineConfig,
                 codecs: CodecChoice) -> None:
    keys = ("boomerang", "repeat", "crop", "blur", "brighter", "contrast", "louder", "text_pixels")
    if not any(k in expect for k in keys):
        return
    frames = _frames(path)
    fps = inspect_output(path).frames / max(inspect_output(path).duration_s, 0.001)
    reference = session.render(tmp_path / "start", config=config, codecs=codecs, draft=session.start) \
        if any(k in expect for k in ("repeat", "blur", "brighter", "contrast", "louder")) else None
    ref_frames = _frames(reference.path) if reference else []

    def at(seq: list[np.ndarray], seconds: float) -> np.ndarray:
        return seq[min(len(seq) - 1, round(seconds * fps))]

    if expect.get("boomerang"):
        first, middle, last = frames[0], frames[len(frames) // 2], frames[-1]
        assert _diff(last, first) < 0.5 * _diff(middle, first), "the last frame does not come back to the first"
    if "repeat" in expect:
        start, end, times = expect["repeat"]
        length = end - start
        for offset in (0.25 * length, 0.75 * length):
            source = at(ref_frames, start + offset)
            for k in range(times):
                here = at(frames, start + offset + k * length)
                assert _diff(here, source) < 0.5 * _diff(here, at(ref_frames, start + offset + 0.5)), \
                    f"play {k + 1} of {times} at {start + offset + k * length:.2f} s is not the repeated part"
        if end + 0.5 < len(ref_frames) / fps:
            after, source = at(frames, end + 0.25 + (times - 1) * length), at(ref_frames, end + 0.25)
            assert _diff(after, source) < 0.5 * _diff(after, at(ref_frames, start + 0.25)), "what follows is not moved"
    middle = frames[len(frames) // 2]
    if "crop" in expect:
        for name in expect["crop"]["present"]:
            assert _share(middle, QUARTERS[name]) > 0.1, f"no {name} left in the frame"
        for name in expect["crop"]["absent"]:
            assert _share(middle, QUARTERS[name]) < 0.02, f"{name} is still in the frame"
    if "blur" in expect:
        ref_middle = ref_frames[len(ref_frames) // 2].mean(axis=-1)
        luma = middle.mean(axis=-1)
        blurred, sharp = expect["blur"]["blurred"], expect["blur"]["sharp"]
        assert _box(luma, blurred).std() < 0.35 * _box(ref_middle, blurred).std(), "the region is not blurred"
        assert _box(luma, sharp).std() > 0.7 * _box(ref_middle, sharp).std(), "the rest of the picture is blurred too"
    if expect.get("brighter") or expect.get("contrast"):
        luma, ref_luma = middle.mean(axis=-1), ref_frames[len(ref_frames) // 2].mean(axis=-1)
        if expect.get("brighter"):
            assert luma.mean() > ref_luma.mean() + 8, (luma.mean(), ref_luma.mean())
        if expect.get("contrast"):
            assert luma.std() > 1.3 * ref_luma.std(), (luma.std(), ref_luma.std())
    if expect.get("louder"):
        assert reference is not None
        assert rms(audio_samples(path)) > 2 * rms(audio_samples(reference.path)), "the sound is not louder"
    if "text_pixels" in expect:
        rows = np.nonzero(np.all(middle > 200, axis=-1))[0] / middle.shape[0]     # white text, by height
        assert rows.size >= 3, "no text in the picture"
        low = expect["text_pixels"] == "bottom"
        assert (rows.mean() > 0.5) == low and not np.any(rows < 0.25 if low else rows > 0.75), rows



# ---- the reply claims only what the draft shows

_NEGATED = re.compile(r"\b(not|no|cannot|can't|couldn't|unable|instead|without|remove[sd]?|undid|undo)\b|n't|"
                      r"[不没未无删去撤]|\?", re.I)
_CLAIMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\brevers|\bbackwards\b|倒放|倒着"), "reversed"),
    (re.compile(r"\bvertical\b|9:16|竖屏"), "9:16"),
    (re.compile(r"\bsquare\b|1:1|方形"), "1:1"),
    (re.compile(r"\bmuted\b|\bsilent\b|静音"), "muted"),
    (re.compile(r"\badded\b|已添加|已加"), "quoted"),
]


def check_claims(reply: str, session: Session, path: Path) -> None:
    """Each sentence of the reply that says something was done (no negation, no offer, no question) is held
    to the draft: reversed, a shape, muted, an added text in quotes."""
    draft = session.draft
    meta = draft.get("m", {})
    base = [s for t in draft.get("t", []) if t.get("tt") == 0 for s in t.get("sg", [])]
    texts = [str(s.get("txt")) for s in texts_of(draft)]
    for sentence in re.split(r"(?<=[.!])\s+|[。！？；;\n]", reply):
        if not sentence.strip() or _NEGATED.search(sentence):
            continue
        for pattern, claim in _CLAIMS:
            if not pattern.search(sentence):
                continue
            if claim == "reversed":
                assert any(s.get("rev") for s in base), f"says reversed, the draft is not: {sentence}"
            elif claim in ("9:16", "1:1"):
                shape = meta.get("aspect")
                assert shape == claim, f"says {claim}, the draft's aspect is {shape}: {sentence}"
            elif claim == "muted":
                info = inspect_output(path)
                own = {TONES[n] for n in session.uploads if n in TONES and n != "song.mp3"}
                heard = tone_energy(path) if info.has_audio else {}
                loudest = max(heard.values(), default=0.0)
                assert all(heard.get(t, 0.0) <= 0.02 * loudest for t in own), f"says muted, it is not: {sentence}"
            else:
                for quoted in re.findall(r"[\"“「『']([^\"”」』']{2,})[\"”」』']", sentence):
                    assert any(quoted in t for t in texts) or quoted in str(draft) or \
                        any(quoted in n for n in session.uploads), f"says {quoted!r} was added: {sentence}"


# ---------------------------------------------------------------- the held-out corpus
# Written after the planner was fitted to FRESH, without reading the planner, and not tuned to it afterwards:
# it measures how well the agent reads requests nobody fitted it to. Same workflows as FRESH (none of these is
# a rewording of a FRESH or CORPUS entry), the same media and checks, plus two rules: a request whose every
# part the agent can do gets a reply with no "Not done:" section (a clause said back means it was not read),
# and text_spans: {text: (start_ms, end_ms)} for requests with several timed texts. Ranges are chosen so that
# keeping and cutting them give different lengths, and a timeline request must show the summary line (not
# just echo the user's word "timeline"). The held-out pass rate:
# ``python -m pytest -q -p no:cacheprovider tests/test_agent_corpus.py -k test_heldout``.

NOT_DONE_MARKS = ("Not done:", "未完成：")

HELDOUT: list[tuple[list[str], list[str], str, dict[str, Any]]] = [
    # ---- trims and GIFs: clock times, typos, an agent's wrapper
    (LONG, [], "could you cut it down so it's just 0:03 through 0:09?", {"duration": 6, "audio": True, "tone": 660}),
    (LONG, [], "i only need the first eight secnods of this", {"duration": 8, "audio": True}),
    (LONG, [], "drop the stretch between 0:05 and 0:12 but keep everything else", {"duration": 13, "tone": 660}),
    (LONG, [], "Hi! My user wants a GIF of this clip, but only from 1.5s to 4.5s, and it should loop.",
     {"format": "gif", "duration": 3, "loop": 0}),
    (LONG, [], "make a gif of the last four seconds, 10fps, 240 px wide",
     {"format": "gif", "duration": 4, "out": {"fps": 10, "width": 240}}),
    (LONG, [], "只要0分3秒到0分9秒这段", {"duration": 6, "audio": True}),
    (LONG, [], "把中间2秒到5秒那段做成GIF动图，宽度240，一直循环",
     {"format": "gif", "duration": 3, "loop": 0, "out": {"width": 240}}),
    # ---- repeat a range
    (CLIP, [], "play seconds 2-3 on repeat 5 times", {"format": "mp4", "duration": 10, "repeat": (2, 3, 5)}),
    (CLIP, [], "把最后一秒重复四遍", {"format": "mp4", "duration": 9, "repeat": (5, 6, 4)}),
    # ---- speed, reverse, boomerang
    (CLIP, [], "can u make it go three times as fast", {"duration": 2, "speed": 3}),
    (CLIP, [], "take the first second and a half and make it go forward then backward, like an insta boomerang",
     {"duration": 3, "boomerang": True}),
    (CLIP, [], "截取前4秒并倒放", {"duration": 4, "rev": True}),
    (CLIP, [], "revrese it and make it sqaure", {"rev": True, "aspect": "1:1", "duration": 6}),
    # ---- sound and music
    (CLIP + SONG, [], "swap the audio for the mp3 I uploaded", {"duration": 6, "tone": 330, "no_tone": 440}),
    (TWO_CLIPS, [], "kill the audio on both clips and put a crossfade between them",
     {"audio": False, "transitions": True, "duration": 10}),
    (CLIP, [], "声音关掉，再把速度调快一倍", {"audio": False, "duration": 3}),
    (CLIP + SONG, [], "add my track underneath, keep it quiet, like 10%, and fade it in over 1 second",
     {"music": True, "builtin": False, "music_vol": 0.1, "music_fi": 1000}),
    (CLIP + SONG, ["use my song as background music"], "the music is too loud, bring it down to a quarter",
     {"music_vol": 0.25}),
    (CLIP + SONG, [], "put my song as backround musik at 50 percent volum",
     {"music_vol": 0.5, "builtin": False, "tones": (330, 440)}),
    (CLIP + SONG, [], "加上我的歌做配乐，开头两秒渐入，最后三秒渐出",
     {"builtin": False, "music_fi": 2000, "music_fo": 3000, "tones": (330, 440)}),
    # ---- titles and captions
    (CLIP, [], "put the words SALE ENDS SUNDAY across the bottom in yellow",
     {"texts": ["SALE ENDS SUNDAY"], "text_pos": "bottom", "text_colour": "yellow"}),
    (CLIP, [], "overlay 'Step 1' for the first two seconds and 'Step 2' after that",
     {"texts_include": ["Step 1", "Step 2"], "text_spans": {"Step 1": (0, 2000), "Step 2": (2000, 6000)}}),
    (CLIP, [], "add a white title saying Orange County Open House",
     {"texts": ["Orange County Open House"], "text_colour": "white"}),
    (CLIP, [], "在最上面加一行黄色的字：今晚八点直播",
     {"texts": ["今晚八点直播"], "text_pos": "top", "text_colour": "yellow"}),
    (CLIP, [], "第2秒到第5秒显示文字“点击关注”", {"texts": ["点击关注"], "text_span": (2000, 5000), "duration": 6}),
    # ---- slideshows, a photo to a clip, promos
    (PHOTOS, [], "slideshow please, total length 15s", {"duration": 15, "pieces": 3}),
    (PHOTOS, [], "幻灯片，每张图显示1.5秒，配上背景音乐",
     {"duration": 4.5, "pieces": 3, "music": True, "builtin": True}),
    (PHOTO, [], "Turn my photo into a square 5s video with the text 'Open Today'",
     {"duration": 5, "aspect": "1:1", "texts": ["Open Today"]}),
    (SHOP, [], "I run a bakery - can you put together a quick 10 sec ad from these photos and the clip?",
     {"duration": 10}),
    (SHOP + SONG, [], "用这些素材做个二十秒的广告，配我上传的音乐，结尾加一句“欢迎到店”",
     {"duration": 20, "music": True, "builtin": False, "texts_include": ["欢迎到店"], "tones": (330,)}),
    # ---- size targets through a quality-high export
    (CAMERA, [], "it has to be under 1 MB or discord won't take it", {"size": ("mp4", 1.0, None), "duration": 4}),
    (CAMERA, [], "帮我转成GIF，文件不要超过两兆",
     {"size": ("gif", 2.0, "video-compressor-gif"), "format": "gif", "duration": 4}),
    # ---- a fixed region: crop, blur
    (QUAD, [], "crop away the bottom half of the picture",
     {"crop": {"present": ["red", "green"], "absent": ["blue", "white"]}}),
    (QUAD, [], "画面只留下半部分", {"crop": {"present": ["blue", "white"], "absent": ["red", "green"]}}),
    (CHECKER, [], "there's a watermark in the bottom right corner, can you blur that area",
     {"blur": {"blurred": (0.88, 0.88, 1.0, 1.0), "sharp": (0.0, 0.0, 0.3, 0.3)}}),
    (CHECKER, [], "右上角有个二维码，帮我打个码",
     {"blur": {"blurred": (0.88, 0.0, 1.0, 0.12), "sharp": (0.0, 0.7, 0.3, 1.0)}}),
    # ---- vague: enhance
    (DIM, [], "the footage is kinda dull and the volume is low, can you fix it up", {"contrast": True, "louder": True}),
    # ---- undo, start over, the timeline
    (CLIP, ["make it a gif", "reverse it"], "scratch that last change", {"format": "gif", "rev": False}),
    (CLIP, ["keep the first 3 seconds", "add a title 'Hey'"], "actually undo both of those",
     {"same_as_start": True, "duration": 6, "texts": []}),
    (CLIP, ["只保留前2秒", "静音"], "全部重来，恢复原始视频", {"same_as_start": True, "duration": 6, "audio": True}),
    (CLIP, ["倒放", "撤销"], "那改成正方形的吧", {"aspect": "1:1", "rev": False, "duration": 6}),
    (CLIP, ["静音"], "现在时间线上有什么", {"unchanged": True, "said": [("Timeline (", "时间线（")]}),
    # ---- what the agent cannot do: said back by name, nothing unrelated done
    (CLIP, [], "add subtitles automatically from the speech", {"unchanged": True, "said": [("subtitle", "speech")]}),
    (CLIP, [], "cut it to 3 seconds and remove the guy walking in the background",
     {"duration": 3, "said": [("guy", "walking", "person", "people")]}),
    (CLIP, [], "把背景换成海滩", {"unchanged": True, "said": [("海滩",)]}),
    (CLIP, [], "做成GIF，再给人物加上美颜滤镜", {"format": "gif", "said": [("美颜", "滤镜")]}),
    (CLIP, [], "The user is asking whether you can translate the speech in the video into Spanish and add it as a "
               "voice-over.", {"unchanged": True, "said": [("Spanish", "translat", "voice")]}),
    # ---- run-ons: every clause done
    (LONG + SONG, [], "ok so take 0:02-0:10, slow it to half speed, square it up, and lay my song under it at 30%",
     {"duration": 16, "aspect": "1:1", "music_vol": 0.3}),
    (CLIP, [], "Hello! On behalf of my user: please trim the first second, reverse what's left, export it as a gif "
               "at 12 fps and make sure it loops.",
     {"format": "gif", "duration": 5, "rev": True, "loop": 0, "out": {"fps": 12}}),
    (LONG + SONG, [], "截取第五秒到第十二秒，改成竖屏，加上标题：新品上市，音乐用我的歌音量调到三成",
     {"duration": 7, "aspect": "9:16", "texts": ["新品上市"], "music_vol": 0.3}),
]


def test_heldout_corpus_is_sound() -> None:
    chinese = [c for c in HELDOUT if any("\u4e00" <= ch <= "\u9fff" for ch in c[2])]
    assert len(HELDOUT) >= 50 and len(chinese) >= 17
    keys = FRESH_KEYS | {"music_fo", "text_span", "text_spans"}
    assert all(set(c[3]) <= keys for c in HELDOUT), [set(c[3]) - keys for c in HELDOUT]
    assert not {c[2] for c in HELDOUT} & {c[2] for c in CORPUS + FRESH}


@pytest.mark.parametrize(("uploads", "before", "text", "expect"), HELDOUT,
                         ids=[f"h{i:02d} {c[2][:44]}" for i, c in enumerate(HELDOUT)])
def test_heldout_request(uploads: list[str], before: list[str], text: str, expect: dict[str, Any], library: Library,
                         config: EngineConfig, cpu_only: CodecChoice, tmp_path: Path) -> None:
    """Checked as FRESH is; a request with nothing said back (no ``said``) must have every part done."""
    every_part_done = {} if "said" in expect else {"every_part_done": True}
    check_request(uploads, before, text, expect | every_part_done, library, config, cpu_only, tmp_path)
