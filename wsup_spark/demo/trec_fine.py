"""Fine-level LFs for TREC question classification (Li & Roth's 50 fine question types).

Each LF is a regex over the question text (case-insensitive) voting one fine class — question
words ("how many" → ``NUM:count``), answer-type head nouns ("what city" → ``LOC:city``) and small
lexicons (colours, diseases, vehicles, ...). They vote the *fine* task of the two-task graph
:func:`trec_task_graph` (coarse 6 classes → fine 50 classes, each fine class inside one coarse
class); the 68 WRENCH LFs vote the coarse task. Developed on the train/valid splits only.

Class orders are those of ``trec_multitask/label.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsup_spark.lf.base import LabelingFunction
from wsup_spark.lf.templates import regex_lf
from wsup_spark.tasks import Task, TaskGraph

COARSE_CLASSES = ("DESC", "ENTY", "HUM", "ABBR", "LOC", "NUM")
FINE_CLASSES = (
    "ABBR:abb", "ABBR:exp", "DESC:def", "DESC:desc", "DESC:manner", "DESC:reason",
    "ENTY:animal", "ENTY:body", "ENTY:color", "ENTY:cremat", "ENTY:currency", "ENTY:dismed",
    "ENTY:event", "ENTY:food", "ENTY:instru", "ENTY:lang", "ENTY:letter", "ENTY:other",
    "ENTY:plant", "ENTY:product", "ENTY:religion", "ENTY:sport", "ENTY:substance",
    "ENTY:symbol", "ENTY:techmeth", "ENTY:termeq", "ENTY:veh", "ENTY:word", "HUM:desc",
    "HUM:gr", "HUM:ind", "HUM:title", "LOC:city", "LOC:country", "LOC:mount", "LOC:other",
    "LOC:state", "NUM:code", "NUM:count", "NUM:date", "NUM:dist", "NUM:money", "NUM:ord",
    "NUM:other", "NUM:perc", "NUM:period", "NUM:speed", "NUM:temp", "NUM:volsize", "NUM:weight",
)  # fmt: skip

_WH = r"^(?:what|which|name)\s+(?:\S+\s+){0,2}?"  # "what (kind of) X", "which two X"
_PERSON = (
    r"(?:man|woman|men|women|person|people|president|vice-president|king|queen|actor|actress"
    r"|author|writer|artist|singer|poet|scientist|explorer|inventor|composer|player|general"
    r"|leader|emperor|pope|director|philosopher|astronaut|athlete|comedian|painter|novelist"
    r"|politician|senator|governor|prime minister|first lady|boxer|golfer|pitcher|officer"
    r"|lawyer|doctor|hero|wife|husband|son|daughter|father|mother|chairman|founder|coach|saint"
    r"|dictator|architect|designer|ruler|pianist|guitarist|quarterback|physicist|chemist"
    r"|mathematician|psychologist|cartoonist|photographer|member|celebrity|star|frenchman"
    r"|englishman|american|character|protagonist|girl|boy|brother|sister|judge|suspect|cowboy"
    r"|villain|heroine|monk|prophet|apostle|sculptor|playwright|host|anchor|manager|owner|ceo"
    r"|millionaire|billionaire|spy|soldier|pilot|commander|admiral|detective|magician|dancer"
    r"|hitter|outlaw|gangster|assassin)s?"
)  # people nouns ("the lawyer who ...", "name of the actor ...")

# (LF name, regex, fine class). Order is the vote-matrix column order.
RULES: tuple[tuple[str, str, str], ...] = (
    # ABBR
    ("abbr_stand_for", r"\bstand(?:s)? for\b|\bstood for\b|\bfull form\b", "ABBR:exp"),
    ("abbr_abbreviation", r"\babbreviat|\bacronym\b", "ABBR:abb"),
    # DESC
    ("desc_def_what_is", r"^what (?:is|are|was) (?:an? |the )?[a-z\-']+(?: [a-z\-']+)? \?$",
     "DESC:def"),
    ("desc_def_mean", r"\bmean(?:s|ing)?\b|\bdefinition\b|\bdefine\b", "DESC:def"),
    ("desc_def_quoted", r"^what (?:is|are|was|'s) (?:a |an |the )?`` [^`']+ '' \?$", "DESC:def"),
    ("desc_def_whats", r"^what 's (?:a |an |the )?[a-z\-]+(?: [a-z\-]+)? \?$", "DESC:def"),
    ("desc_reason_why", r"^why\b|\bwhy (?:do|does|did|is|are|was|were)\b|\bhow come\b"
     r"|\bwhat (?:causes|caused|is the cause|is the reason)\b", "DESC:reason"),
    ("desc_reason_famous", r"\b(?:famous|known|noted|remembered) for\b|^what (?:makes|made"
     r"|causes|caused)\b|\bcauses? of\b|\breasons? (?:for|why)\b", "DESC:reason"),
    ("desc_manner_how", r"^how (?:do|does|did|can|could|should|would|might|to|is \S+ made)\b",
     "DESC:manner"),
    ("desc_desc_what_happens", r"\bwhat happen|\b(?:origin|history|significance|purpose) of\b"
     r"|\bdifference between\b|\bwhat (?:is|was) the (?:story|plot)\b", "DESC:desc"),
    ("desc_desc_describe", r"^describe\b|\blook like\b|\bwhat (?:is|are) the (?:powers"
     r"|characteristics|features|advantages|disadvantages|effects|benefits|rules)\b",
     "DESC:desc"),
    ("desc_desc_believe", r"\bbelieve(?: in)? \?$|\bside effects?\b|\bwhat effects?\b"
     r"|\bwhat (?:is|was|are) the (?:importance|significance|nature|verdict|distinction"
     r"|main application|function)\b|\bwhat (?:should|can|must) (?:i|you|one|a person) do\b",
     "DESC:desc"),
    # ENTY
    ("enty_animal", _WH + r"(?:animal|bird|fish|dog|cat|insect|mammal|creature|reptile|breed"
     r"|species|horse|snake|spider|whale|shark)s?\b", "ENTY:animal"),
    ("enty_animal_pet", r"\b(?:dog|horse|cat|pony|mule|ox|bird|parrot|pig)\s*'s\b|\b(?:state"
     r"|official|national) (?:animal|bird|fish)\b|\b(?:dog|horse|cat|ox|bird) (?:'s )?name\b"
     r"|\bname of (?:\S+ ){0,3}(?:dog|horse|cat|ox|bird|pet)\b", "ENTY:animal"),
    ("enty_body", _WH + r"(?:organ|bone|muscle|gland|body part)s?\b|\bpart of the (?:body|brain"
     r"|eye|ear)\b", "ENTY:body"),
    ("enty_color", r"\bcolou?rs?\b", "ENTY:color"),
    ("enty_cremat", _WH + r"(?:film|movie|book|novel|song|play|poem|painting|opera|album"
     r"|magazine|comic|cartoon|musical|sculpture|tv|television|show|series|story|character)s?\b"
     r"|\b(?:wrote|written|sang|sung|starred|composed|painted)\b.*\b(?:film|movie|book|novel"
     r"|song|play|poem)\b", "ENTY:cremat"),
    ("enty_cremat_in_what", r"\b(?:in|on|from) (?:what|which) (?:\S+ )?(?:film|movie|book|novel"
     r"|opera|play|tv show|show|series|album|song|poem|comic strip|sitcom|cartoon)s?\b",
     "ENTY:cremat"),
    ("enty_cremat_ending", r"^(?:what|which) .*\b(?:film|movie|book|novel|opera|symphony|album"
     r"|comic strip|sitcom|soap opera|trilogy|ballad|bible|testament)s? \?$", "ENTY:cremat"),
    ("enty_currency", r"\bcurrenc(?:y|ies)\b|\bmonetary unit\b", "ENTY:currency"),
    ("enty_dismed", r"\b(?:disease|illness|syndrome|disorder|cancer|virus|infection|ailment"
     r"|medicine|drug|cure|vaccine|symptoms?|allergy|deficiency)\b", "ENTY:dismed"),
    ("enty_dismed_fear", r"\bfear of\b|\bphobi", "ENTY:dismed"),
    ("enty_event", _WH + r"(?:war|battle|event|festival|holiday|revolution|hurricane|disaster"
     r"|competition|tournament|ceremony)s?\b", "ENTY:event"),
    ("enty_food", _WH + r"(?:food|fruit|vegetable|drink|cheese|dish|beverage|cereal|dessert|wine"
     r"|beer|cocktail|candy|sauce|bread|soup|spice|nut|liquor|meat|cake|cookie|sandwich"
     r"|pasta|pizza|chocolate)s?\b", "ENTY:food"),
    ("enty_food_eat", r"\b(?:eat|eats|ate|drink|drinks|flavou?rs?|cereal|ice cream|cookie|soda"
     r"|snack|sweeter|dish|recipe|ingredients?)\b", "ENTY:food"),
    ("enty_instru", r"\binstrument", "ENTY:instru"),
    ("enty_lang", _WH + r"(?:languages?|tongue|dialect)\b", "ENTY:lang"),
    ("enty_letter", _WH + r"letters?\b", "ENTY:letter"),
    ("enty_plant", _WH + r"(?:plant|tree|flower|shrub|herb|weed|grass|seed)s?\b", "ENTY:plant"),
    ("enty_product", _WH + r"(?:brand|product|toy|computer|software|game console)s?\b",
     "ENTY:product"),
    ("enty_religion", r"\breligio(?:n|us)\b|\bfaith\b|\bdenomination\b", "ENTY:religion"),
    ("enty_sport", r"\bsports?\b|" + _WH + r"games?\b", "ENTY:sport"),
    ("enty_substance", _WH + r"(?:substance|element|chemical|mineral|metal|gas|material|fabric"
     r"|compound|fuel|ingredient|oil|acid)s?\b|\bmade (?:of|from|out of)\b", "ENTY:substance"),
    ("enty_symbol", _WH + r"(?:symbol|emblem|logo|mascot)s?\b|\bsymboli[sz]e", "ENTY:symbol"),
    ("enty_techmeth", r"\b(?:technique|method|process|procedure|way to)\b", "ENTY:techmeth"),
    ("enty_termeq", r"\bwhat (?:is|was|are) (?:the |a |another )?(?:term|name|word) for\b"
     r"|\bwhat do you call\b|\bterm for\b", "ENTY:termeq"),
    ("enty_termeq_called", r"\b(?:called|known as|call) what\b|\b(?:also|better|commonly"
     r"|usually) (?:called|known)\b|\banother name\b|\b(?:common|former|other|english|proper"
     r"|scientific|technical) name\b|\btranslation\b|\bwhat (?:do|does|did) \S+(?: \S+)? call\b",
     "ENTY:termeq"),
    ("enty_veh", _WH + r"(?:car|ship|boat|plane|aircraft|airplane|vehicle|submarine|automobile"
     r"|locomotive|rocket|spacecraft|shuttle|jet|yacht)s?\b", "ENTY:veh"),
    ("enty_word", _WH + r"words?\b(?! for)|\brhymes? with\b|\bpalindrome|\banagram", "ENTY:word"),
    # HUM
    ("hum_ind_who", r"^who(?! (?:is|was|are|were) [^ ?]+(?: [^ ?]+)? \?$)\b|\bwhose\b|\bwhom\b",
     "HUM:ind"),
    ("hum_ind_person", _WH + r"(?:man|woman|person|president|king|queen|actor|actress|author"
     r"|writer|artist|singer|poet|scientist|explorer|inventor|composer|player|general|leader"
     r"|emperor|pope|director|philosopher|astronaut|athlete|comedian|painter|novelist"
     r"|politician|senator|governor|prime minister|first lady|boxer|golfer|pitcher|officer"
     r"|revolutionary|lawyer|doctor|hero|wife|husband|son|daughter|father|mother|chairman"
     r"|founder|coach|saint|dictator|architect|designer|ruler|pianist|guitarist|quarterback"
     r"|physicist|chemist|mathematician|psychologist|blonde|cartoonist|photographer)s?\b",
     "HUM:ind"),
    ("hum_ind_name", r"\b(?:first|last|real|full|maiden|given) name\b|\bnamed \?$", "HUM:ind"),
    ("hum_ind_noun_who", r"\b" + _PERSON + r" (?:who|that|whose)\b", "HUM:ind"),
    ("hum_ind_name_of", r"\bnames? of (?:the |a |an |his |her |their )?(?:\S+ )?" + _PERSON
     + r"\b", "HUM:ind"),
    ("hum_ind_which_of", r"^(?:which|what) (?:of the following |of these )?(?:\S+ ){0,3}?"
     + _PERSON + r"\b", "HUM:ind"),
    ("hum_desc_who_is", r"^who (?:is|was|are|were) [^ ?]+(?: [^ ?]+)? \?$", "HUM:desc"),
    ("hum_gr", _WH + r"(?:team|company|group|organization|band|corporation|university"
     r"|college|school|party|club|agency|airline|tribe|firm|manufacturer|network"
     r"|newspaper|store|chain|league|army|museum)s?\b|\bwho (?:makes|made|manufactures"
     r"|produces|owns)\b", "HUM:gr"),
    ("hum_gr_any", r"^(?:what|which) .*\b(?:company|companies|corporation|manufacturer"
     r"|radio stations?|civilization|culture|band|baseball team|football team|hockey team"
     r"|basketball team|businesses)\b", "HUM:gr"),
    ("hum_title", _WH + r"(?:title|position|rank|office|job|profession|occupation)s?\b",
     "HUM:title"),
    # LOC
    ("loc_city", r"\b(?:city|cities|town|capital)\b", "LOC:city"),
    ("loc_country", r"\b(?:country|countries|nation)\b", "LOC:country"),
    ("loc_mount", _WH + r"(?:mountain|mount|mt\.|peak|volcano)s?\b", "LOC:mount"),
    ("loc_state", _WH + r"(?:state|province)s?\b|\bstates? (?:has|have|is|was)\b", "LOC:state"),
    ("loc_other_where", r"^where\b|\bwhere (?:is|are|was|were|do|does|did|can)\b", "LOC:other"),
    ("loc_other_place", _WH + r"(?:river|lake|ocean|sea|continent|island|desert|park|region"
     r"|street|building|planet|hotel|bridge|county|place|area|location|canal|bay|valley"
     r"|airport|stadium|body of water|galaxy|star)s?\b", "LOC:other"),
    ("loc_other_superlative", r"\b(?:largest|biggest|longest|tallest|highest|oldest|deepest"
     r"|smallest|most famous) (?:\w+ )?(?:river|lake|building|cathedral|island|desert|ocean"
     r"|sea|waterfall|church|museum|park|bridge|structure|tower|website|web site|home page"
     r"|canal|cave|reef|glacier|stadium|arena|hotel|airport)s?\b", "LOC:other"),
    ("loc_other_place2", r"^(?:what|which) (?:\S+ ){0,3}?(?:cathedral|library|libraries|gulf"
     r"|continent|constellation|mall|site|sites|website|websites|address|birthplace|brewery"
     r"|breweries|attraction|attractions|prison|castle|palace|church|temple|monument|court"
     r"|restaurant|bar|theater|theatre|zoo)\b|\bwhat part of\b|\bwhere can i find\b",
     "LOC:other"),
    # NUM
    ("num_code", r"\b(?:zip|area|postal|morse) code\b|\b(?:phone|telephone) number\b",
     "NUM:code"),
    ("num_count", r"\bhow many\b|\bnumber of\b|\bpopulation\b", "NUM:count"),
    ("num_date_when", r"^when\b|\bwhen (?:is|was|did|does|do|were|will)\b", "NUM:date"),
    ("num_date_year", r"\bwhat (?:year|date|day|month|century|decade|time of year)\b|\bbirthday\b"
     r"|\bin what year\b", "NUM:date"),
    ("num_dist", r"\bhow (?:far|tall|high|wide|deep)\b|\b(?:distance|length|height|width|depth"
     r"|diameter|altitude|elevation)\b|\bhow long is\b", "NUM:dist"),
    ("num_money", r"\bcosts?\b|\bprice\b|\bhow much money\b|\bworth\b|\bsalary\b"
     r"|\bhow much (?:does|did|do|is|was|will|would) .*\b(?:pay|earn|charge|spend)\b",
     "NUM:money"),
    ("num_money_wage", r"\b(?:minimum wage|paid|income|tax|taxed|fare|fined?|debts?|how much"
     r" (?:did|does|do|is|was|will|would|could|can) .* (?:sell|rent|buy|pay|cost))\b",
     "NUM:money"),
    ("num_ord", r"\bwhat (?:number|place|rank) (?:is|was|did)\b|\bwhat position did\b",
     "NUM:ord"),
    ("num_other", r"\bwhat (?:is|was) the (?:atomic )?number\b(?! of)",
     "NUM:other"),
    ("num_other_measure", r"\b(?:frequency|latitude|longitude|iq|horsepower|death toll"
     r"|statistics|par|score|heart rate|size of the|quantity)\b", "NUM:other"),
    ("num_perc", r"\bpercent|%|\bwhat (?:fraction|proportion)\b|\bodds\b|\bprobability\b",
     "NUM:perc"),
    ("num_period", r"\bhow old\b|\bhow long (?:did|does|do|will|would|can|has|have|was|were"
     r"|ago)\b|\blife ?span\b|\bhow many years\b|\bage\b", "NUM:period"),
    ("num_speed", r"\bhow fast\b|\bspeed\b|\bmph\b|\bmiles per hour\b|\bvelocity\b",
     "NUM:speed"),
    ("num_temp", r"\btemperature\b|\bhow (?:hot|cold)\b|\bdegrees\b|\b(?:boiling|melting"
     r"|freezing) point\b", "NUM:temp"),
    ("num_volsize", r"\bhow (?:big|large)\b|\bsquare (?:miles|feet|kilometers)\b", "NUM:volsize"),
    ("num_weight", r"\bweigh|\bhow heavy\b|\bmass of\b", "NUM:weight"),
)  # fmt: skip


def trec_task_graph() -> TaskGraph:
    """The TREC two-task graph: ``coarse`` (6) → ``fine`` (50), each fine class in one coarse.

    Examples
    --------
    >>> g = trec_task_graph()
    >>> g.n_joint, g.feasible[FINE_CLASSES.index("NUM:count")].tolist()
    (50, [5, 38])
    """
    parent_of = tuple(COARSE_CLASSES.index(f.split(":")[0]) for f in FINE_CLASSES)
    return TaskGraph([
        Task("coarse", len(COARSE_CLASSES), COARSE_CLASSES),
        Task("fine", len(FINE_CLASSES), FINE_CLASSES, parent="coarse", parent_of=parent_of),
    ])  # fmt: skip


def fine_lfs() -> list[LabelingFunction]:
    """The fine-task LFs (vectorized regex LFs over the ``text`` column), in :data:`RULES` order.

    Examples
    --------
    >>> import pyarrow as pa
    >>> lf = {f.name: f for f in fine_lfs()}["num_count"]
    >>> lf(pa.record_batch({"text": ["How many legs does a spider have ?", "Who ?"]})).tolist()
    [38, -1]
    """
    return [regex_lf(name, pat, FINE_CLASSES.index(tag)) for name, pat, tag in RULES]


def fine_votes(texts: Sequence[str]) -> np.ndarray:
    """(n, m_fine) int16 votes of :func:`fine_lfs` on a list of questions (-1 = abstain)."""
    import pyarrow as pa

    batch = pa.record_batch({"text": pa.array(list(texts), pa.string())})
    cols = [np.asarray(lf(batch), np.int16) for lf in fine_lfs()]
    return np.stack(cols, axis=1) if cols else np.zeros((len(texts), 0), np.int16)
