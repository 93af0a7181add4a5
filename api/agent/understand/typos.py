"""Typo correction of key words: a word one edit away from a keyword (two for words of 7+ letters) becomes that
keyword ("frist" → "first", "muet" → "mute", "gfi" → "gif", "slidshow" → "slideshow").

An edit is a letter added, dropped, changed, or two neighbours swapped (Damerau, optimal string alignment). A
word of 3 letters is only corrected by a swap. A word is never changed when it is a keyword itself, a word any
handler's pattern looks for, or a common English word (:data:`_COMMON`: "test" stays "test", not "text"); nor
when two different keywords are equally near (a keyword and its plural count as one: "giff" is "gif"), nor into
its own plural or singular. The first letter must agree, except that the first two may be swapped ("ivdeo").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau (optimal string alignment) distance of two words, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return row[-1]


def _correct(word: str) -> str:
    """The keyword a misspelt word stands for, else the word itself."""
    return _corrected(word) if 3 <= len(word) <= 20 else word


@lru_cache(maxsize=8192)
def _corrected(word: str) -> str:
    if word in _VOCAB or word in _COMMON or word in _PATTERN_WORDS:
        return word
    limit = 1 if len(word) <= 6 else 2
    best: list[str] = [word]
    best_distance = limit + 1
    for keyword in _BY_FIRST.get(word[0], ()) + _BY_FIRST.get(word[1], ()):
        if keyword[0] != word[0] and keyword[:2] != word[1::-1]:
            continue
        if len(word) == 3 and (len(keyword) != 3 or sorted(keyword) != sorted(word)):
            continue
        if keyword.rstrip("s") == word.rstrip("s"):
            continue
        d = _distance(word, keyword, limit)
        if d < best_distance:
            best, best_distance = [keyword], d
        elif d == best_distance and keyword not in best:
            best.append(keyword)
    if len({k.rstrip("s") for k in best}) == 1:         # "giff": "gif" or "gifs", the same keyword
        return min(best, key=len)
    return word


def _protect(patterns: object) -> None:
    """Never correct a word these patterns look for. The package passes every handler's patterns once, as it is
    imported (its ``_PATTERNS``), before anything is read."""
    for pattern in _flatten(patterns):
        source = re.sub(r"\\[a-zA-Z]", " ", pattern.pattern)      # \b, \s, ... are not words
        _PATTERN_WORDS.update(re.findall(r"(?<![a-z])[a-z]{3,}(?![a-z])", source))
    _corrected.cache_clear()


def _protected() -> frozenset[str]:
    """Words never corrected: the keywords, every word a handler's pattern looks for, and common English words."""
    return frozenset(_PATTERN_WORDS) | _VOCAB | _COMMON


def _flatten(value: object) -> Iterable[re.Pattern[str]]:
    if isinstance(value, re.Pattern):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _flatten(item)


_PATTERN_WORDS: set[str] = set()         # filled by _protect

# Keywords: the words a misspelling is corrected to.
_VOCAB: Final = frozenset("""
    above after album animated audio background backward backwards balance banner banners beginning between
    bigger black boomerang bottom brown caption captions center centered centre centred change circle clips
    clock close closing colour color commercial commercials compress compressed compression convert create
    credit credits crossfade crossfades cyan decrease delete dissolve dissolves display double download eight
    eighteen eleven endless endlessly ending export extract faster fifteen fifty final first flash footage
    forever forty forward forwards fourteen frame frames framerate golden grayscale greyscale green header
    heading headings headline headlines highlight highlights horizontal horizontally hundred image images
    include increase initial insert instagram intro isolate label labels landscape large larger later layout
    left letterbox letterboxed letters lightweight lower looping loops louder magenta marketing maximum medium
    middle milliseconds minute minutes montage motion movement movie movies music ninety nineteen normal
    opening orange orientation original outro overlay overlays photo photograph photographs photos picture
    pictures pixel pixelate pixelated pixelize pixels playback portrait preserve promo promos promotion
    promotional purple quality quarter quicker quiet quieter radial raise record recording recordings reduce
    reels regular remove repeat repeating repeats resolution revert reverse reversed reverses right screen
    screenshot screenshots second seconds seven seventeen short shorten shorter shorts shrink silence silent
    silently silver sixteen sixty slide slides slideshow slideshows slower slowly small smaller smallest
    smooth snapchat softer song songs sound soundtrack speed speedup square start starting static status still
    stills stories story stretch stretched subtitle subtitles thirteen thirty three through tiktok title
    titled titles track tracks transition transitions twelve twenty twice upload uploading upper vertical
    vertically video videos voice volume webm white wider widescreen width window without words yellow
    youtube zoom zooming
    across advertisements adverts below boost build burns cancel canvas clear collage cropping cross displayed
    ditch douyin downward downwards effect erase every exceed fadegrays fades files films footer format forth
    front generate hblur inside kilobytes lasting lasts limit logos lowest megabytes millisecs msecs never
    noise output paintings placed plays positioned possible ratio reads result saying scenes shave shots shown
    shows single strip style texts third timeline times tunes under until upward upwards using version views
    which whole wipes within write
    blur blurred brighter brighten corner corners crop enhance enhanced faces gif gifs half keep last loop
    mute muted normalize normalise percent replace reset seventy eighty slow text trim trimmed upscale
    vivid clip fade instead undo cut bgm fps down over
""".split())

# Common English words near a keyword, never corrected ("test" is not "text", "look" is not "loop"): the words
# among the 60,000 most frequent in English that the rules above would otherwise change.
_COMMON: Final = frozenset("""
    abode absolve actions actress adheres adverbs adverse advertise agitated albumin albus alum animate animator
    arise asserts aster audit auditor backboard backers backhand backwoods backyard backyards badgers badness
    bagger balanced ballers banderas banger bangers banker bankers banned banter barbers barns bathers batters
    bellow bellows benders benning berners bigelow biggar biggest binance binders blacked blacker blackie
    blanche blank block blogger blow blown blum blunted blurb blurt blurted blushed boast bonkers bonner bonnets
    boos boosted booster boot boots bottomed brainer brawn brenner bridger brightened brightens brighton bringer
    britten bron brow browne browned browner brownie brows brunner bugger buggers builder buildup built bunkers
    buns burbs burdens burnt calvert campion canceled cancer cancers canter cantons canvases capitan capitol
    capping captain captains captioned captive captives captors careers carrion carters cartons cartoon cartoons
    catered cation cations causing caution cautions cautious ceasing censure centaur centres centro chan chance
    chancel chang changed changer changers changi chanted charge charged charger charges chasing cheated chester
    chip chipping chips chock choking chomping choosing chopping chose circe circled clack clan clap clapping
    claps clapton clashing clawing cleared clearer clearly cleary cleaver click clin clio clipping clit cloak
    cloaking clocked clocking clogging clone cloning closed closely closer closest closet closets closeup
    closure clothing clotting clouding clove clowning coarser cock coffers coinage colbert colburn colgate
    collagen collapse collard collared collars collate collated colleague college colleges collide collude colon
    colored coloring coloured colours commercialism commercially compares compass compassion compels composes
    compresses compressing compressive comprise comprised comprises conceal conceit concept concern concert
    concerto concerts congress connect conner conners connors conor consent consort content contest context
    contour convene convent convents converge converse converted converter conveys convict cookers cooking
    coolers cooling coop coopers coppers copping copying corker cormier cornea corneal corned cornell cornered
    cornet coroner coroners coronet corp corsets costing costner cottage countered counters courage courier
    couriers covert cramping crap crass crate creamed creamer crease creased creases created creatine creative
    creator creature credited creditor creditors creeping cremated cress crested crete crippling crips criss
    croc crock crocs cron crops crosse crossed crosses crossfire crow crowding crowning crows cult culvert cunt
    cupping curlers cursing curt cussing cust cute cypress dawn deceased decreased decrees deflate delegate
    deleted deleuze demeter deplete depleted dismayed displaced displaces displays displeased dissolved ditched
    ditches doable doin dorn doubled doubly doubted dowd downloaded downwind drown dutch ease effected effector
    eighteenth eighties eights element eleventh eluding elven emery enchanted encoding enduring enhances enliven
    enright ensuing entrance entranced entrant eras erased eraser erasers erasure eroding esports evading
    evasion ever everly evers evert exacted exceeded excelled excepted excised excited excreted excused expert
    experts exploit explore exported exporter extinct extort extracted extractor face faced facet facets facies
    facts faded fader fads faeces fainter fairest fake falter falters fancies fane fare farmers farther fasted
    fasten fastener fastest fate fatter faucets fave faye faze feasted feces fester fide fifteenth fifth fifties
    filed filer filet fillers fillets fillies filters fina finale finally fines fires firms firstly firth fist
    fives fixes flame flames flashed flashes flashy flask flatter flesh flies floater flush fogarty foibles
    foles foliage foote footed footwear footy foramen foray forearm forearms foreman foresee forester foreword
    forma formal forman forsyth fortify forwarded fourteenth fourth fourths framed framers frasier fremont frome
    frontage frontal fronted frost froth general generale generals generated generative generator gift gifts
    gigs gins goldin golding goldman goldwyn greed greek greene greener greer greet hader hala hale hall halo
    halt handing handled harding hardline headed headgear headland headley headlined headliner headliners
    headset healer healers healing heaping hearing hearings heater heaters heather heating heavier heaving
    hedging helping helpline helsing hemming hemmings henning herder herders herding herring herrings
    highlighted highlighter hindered hoarder hoarding holding holdings honored horizonte hounded huddled hunched
    hundley hundredth imaged imager imagery imagine imagines incense incline included increased inert inertial
    infidel inflate inherit initially initiate inmates insect insects inserted inset insider insiders inspect
    inspire instill insulate intra intrude invert isolated keef keel keen keeps kelp kemp labeled labelle
    lacking lagging lagos laker landing landscaped lange langer lanning lansing lantern lapel lapels larder
    largo larue laser lash lashing lass late lateral latex lather latimer latter lauder lauer launder laurels
    laurier laver layer lazer leaders leaping learner leasing least leather leathers leavers lectern ledgers
    lefty legos lenders lent lessing lett lettered letting lettres leven libel lift lifters lifting limited
    limiter limping listing listings lists liter litters loader loaders loading loaning lobos locking locos
    lodging loft logging logs loner longest longing looking loom looming looms loon loons loopy loosing loot
    looters looting loser lost lottery loup lourdes lover lowe lowered lowery lowther lust lusting lusts lyft
    magneto magnets marking mate mated maximal maximus meddle meldrum mention mete meted minimum minster
    minutiae mite mobiles modicum mommies mondale monies montagu montague montaigne montana montauk montego
    monument morison mortgage mote motioned motives mounted mouthed move moves movin moxie muddle muddled mule
    muse mused musical mutated mutes mutt naivety naver needing needless needlessly neuer neve neves newer
    nineteenth nineties nitro noire noisy noose norma normalcy normalised normalized normally normals norman
    normans norse norwalk nose obeying oder omer orang ordinal originally originate origins outcrop outdo
    outgrow outpost oven overall overalls overlaid overland overlap overlaps overload overly overpass overran
    oversaw overt overtly paced pairings palaces panting passable pasture pastures payback pays perfect pervert
    petitioned phonograph photographed photographer photographers photographic photography photon photons
    pictured pipeline placard placebo placer places placid plagued planed planned plans planted plantings plated
    playa playbook played players playset pleaded pleased pleated plucked poached pointing policed popsicle
    portray portrays position positional positions possibly postponed posture postures prays precept prelate
    presence present preserved prevent primo printing probation prom promise promote promotes promoting
    promotions prompts proms proportion proportional propose provo provost puncture punctures pupper purpose
    qualify quantity quarrel quartered quarterly quartet quartets quicken quickest quickie quickly quieted
    quietest quilt quilted quint quit quite quitter racial radially radiant radiate radical radicals radio raine
    raised raiser raisers ration rations reade readers readies ready realise reams rears rebels rebuilt receding
    recessed recesses recorder recover recreating rectory recurring redford reds reduced reefs reeks rees
    referee refereed referees referred reforming regarding regards regents regularly regulate regulator rehearse
    rehearsed reheat rejecting rejects relating release released releases releasing reloading remodel remote
    remotes removal removed remover renault repaying repeal repealing repeated repeater repeaters repelling
    repels repent replaced replacing replayed replaying replete replica reports reposting rereading resent
    reserve reserved reserves resetting resolve resorting respecting respects resulted retards retrace retreat
    retreating retreats revealed revealing revelry revels revenge revenue revenues reverb revered reverend
    reverent reverie reversals reverted reverting revised revolution revolutions revolve rewarding rewards
    reworking rightly righty rise riverbed roads sacking saeed sagging sailing salient sampler sanding sang
    sapling satanic save saving savings sawing scaling scarring scenery scented scents schemes sciatic science
    sciences scones scots scratched screened screens screwed scrip sealing seconded secondly seed seen semen
    seng seong serenity seventeenth seventh seventies sever severity severn shade shading shadows shae shake
    shaking shale shall shame shaming shane shape shaping share sharpen shatter shaved shaven shaver shaving
    shawn sheaves shelter shill shingle shingles shirt shirts shits shitter shocker shoot shooter shooters
    shootin shopper shore shores shoring shortened shorty shout shove shower showing showman shrank shriek
    shrieks shrine shrines shrunk shuster shuts shutter silenced silencer sill sills silvery simonds sing singe
    singled singlet singly sings sixpence sixteenth sixth sixties sketched skill skills skirting slade slave
    slaving slaw slaying slew slice slices slider sliders slime sliver slob slog slop slot slots slowed slowest
    slows smallish smart smartest smell smelled smelter smollett smooch smoothed smoother smoothie smoothly
    snaking snapshot snarling snide snort snorting snorts snow snows soaking soften softener softens softest
    solent solider solvent solver solvers somatic sona sone sono sonos sons sont sony sort sorties sorting sorts
    sounded sounder soundly sown sows soylent spacing sparking sparring spastic speared sped speedo speedy speer
    spelled spend spewed spiders spied spill spills spindle sponges sport sporting sports spots spraying spying
    squared squarely squire squires stabbing stabler stacking staffing staining stale stalker stalking stalled
    stalling stalls stamping standing stapler star starc stare staring stark starlet starling starlings starr
    starring stars started startle startling startups starving starz stat states statics statin stating station
    stats statue statues stature statuses statute statutes stave staying steed sterling steven stevens stewart
    stifles stiles stilts stirling stirring stitched stole stoll stony stooges store stores storey storied stork
    storm stormed storming stormy stow strafing strap stratum stratus strep stretcher stretchers stretches
    stretchy strikes stripe striped strives strokes strolls stuart studies stunting sturt styled styling suave
    subtitled suing sulfide sung sven swarming swatting swaying swindle symonds tack tacks teat tehreek tent
    tents test tests texas thee there therese thierry thirsty thirteenth thirties thistle thistles thorough
    though thought threw thrifty throngs tickled tickles tides ties tile tiled tilted timbers timed timer timers
    timex timey timezone tims tires tithe tithes titties tomes tones totaled trace tracers traces traci tracked
    tracker trackers tract tracts tracy tradition traditions tram transaction transactions transiting
    transitional transitioned transitive translation translations trask tree trice trick tricked tricks trig
    trimmer trio trip triples tripped tris trix trough troughs truck trucks trumped tshirts tubes tues tuned
    tuner tuners tunis tunnels turners turtles tweety twine tyree undergo undp unger unload unloading unser
    untie unto upgrading upholding uplands uploaded upped upstate upswing upwardly venison verizon verticals
    vertices vice viewers vimeo vivi vividly voce voiced wards washout watchin webb webmd webs weirder whale
    whine whistle whit whiten whiter whitest whitey whither whitley whitney whitten whittle whore whose whyte
    widen widow widower wifes wilder wilders wiles winder windscreen windsor wines winslow wiped wipeout wipers
    wires wirth wiser wishing wives woods wordy works worlds worms writ writer writers writhing writs written
    wrote yellows youtuber youtubers zooms zoos zoot
""".split())

_BY_FIRST: Final[dict[str, tuple[str, ...]]] = {
    letter: tuple(sorted(k for k in _VOCAB if k[0] == letter)) for letter in {k[0] for k in _VOCAB}}
