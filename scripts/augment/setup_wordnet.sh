#!/usr/bin/env bash
# Prepare English WordNet 3.0 for nltk, offline, from Debian's packages (idempotent).
#
#   bash scripts/augment/setup_wordnet.sh            # into $NLTK_DATA (first entry) or a default
#   bash scripts/augment/setup_wordnet.sh /some/dir  # into /some/dir/corpora/wordnet
#
# 1. installs `wordnet-base` and `wordnet-sense-index` with apt-get when /usr/share/wordnet lacks
#    the database (root only; otherwise says what to install),
# 2. copies the database files into <nltk_data>/corpora/wordnet,
# 3. writes the `lexnames` file nltk's reader needs (Debian leaves it out) from the lexnames(5WN)
#    man page the package ships, falling back to the fixed WordNet 3.0 table,
# 4. installs nltk with pip when it is missing, and checks that `wordnet.synsets("dog")` works.
# Default target: /usr/local/share/nltk_data as root, else ~/nltk_data (both on nltk's path).
set -euo pipefail
PY=${PYTHON:-python3}
WN=/usr/share/wordnet
if [ $# -ge 1 ]; then
  TARGET=$1
elif [ -n "${NLTK_DATA:-}" ]; then
  TARGET=${NLTK_DATA%%:*}
elif [ "$(id -u)" = 0 ]; then
  TARGET=/usr/local/share/nltk_data
else
  TARGET=$HOME/nltk_data
fi
DEST=$TARGET/corpora/wordnet

echo "wordnet: 1/4 Debian packages (database in $WN)"
if [ ! -f "$WN/data.noun" ] || [ ! -f "$WN/index.sense" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "WordNet is not in $WN: install the Debian packages wordnet-base and" \
      "wordnet-sense-index (as root: apt-get install wordnet-base wordnet-sense-index)" >&2
    exit 1
  fi
  echo "wordnet: installing wordnet-base wordnet-sense-index with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
         wordnet-base wordnet-sense-index >/dev/null; }
else
  echo "wordnet: already installed"
fi

echo "wordnet: 2/4 copying the database into $DEST"
mkdir -p "$DEST"
for f in "$WN"/*; do
  name=$(basename "$f")
  [ -f "$f" ] || continue                       # skip bin/, pixmaps/, ... folders
  # copies, not links: nltk refuses files that resolve outside its corpus root
  if [ -L "$DEST/$name" ] || ! cmp -s "$f" "$DEST/$name"; then
    rm -f "$DEST/$name"
    cp "$f" "$DEST/$name"
  fi
done

# lexnames: "NN<TAB>name<TAB>category" with category 1 noun, 2 verb, 3 adjective, 4 adverb.
echo "wordnet: 3/4 writing $DEST/lexnames"
MAN=/usr/share/man/man5/lexnames.5WN.gz
TMP=$(mktemp)
if [ -f "$MAN" ]; then
  zcat "$MAN" | grep -E '^[0-9]{2}[[:space:]]+(adj|adv|noun|verb)\.' \
    | awk '{print $1 "\t" $2}' > "$TMP"
fi
if [ "$(wc -l < "$TMP")" != 45 ]; then
  echo "lexnames(5WN) man page missing or unexpected; using the WordNet 3.0 table"
  printf '%s\n' adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact \
    noun.attribute noun.body noun.cognition noun.communication noun.event noun.feeling \
    noun.food noun.group noun.location noun.motive noun.object noun.person noun.phenomenon \
    noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape noun.state \
    noun.substance noun.time verb.body verb.change verb.cognition verb.communication \
    verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion \
    verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl \
    | awk '{printf "%02d\t%s\n", NR - 1, $1}' > "$TMP"
fi
awk -F'\t' 'BEGIN {c["noun"] = 1; c["verb"] = 2; c["adj"] = 3; c["adv"] = 4}
  {split($2, p, "."); printf "%s\t%s\t%d\n", $1, $2, c[p[1]]}' "$TMP" > "$DEST/lexnames.new"
rm -f "$TMP"
rm -f "$DEST/lexnames"
mv "$DEST/lexnames.new" "$DEST/lexnames"

echo "wordnet: 4/4 checking nltk's reader"
"$PY" -c "import nltk" 2>/dev/null || { echo "wordnet: pip install nltk"; "$PY" -m pip install -q "nltk>=3.8"; }
NLTK_DATA=$TARGET "$PY" - <<'PYEOF'
from nltk.corpus import wordnet as wn

lemmas = sorted({l.name() for s in wn.synsets("quick") for l in s.lemmas()})
assert lemmas, "wordnet returned no synsets for 'quick'"
print(f"WordNet {wn.get_version()} ready for nltk: quick -> {', '.join(lemmas[:6])}")
PYEOF
echo "nltk data: $TARGET (nltk searches it by default; else export NLTK_DATA=$TARGET)"
