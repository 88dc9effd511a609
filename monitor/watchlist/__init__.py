"""The watchlist: topics written in a boolean or weighted query language, matched against every article.

query.py     query text -> tree (lexer and recursive-descent parser; errors with column and hint)
text.py      folding (case, diacritics, Persian/Arabic variants) and word tokens
matcher.py   one Aho-Corasick pass over all topics' terms, then each topic's tree on the hits
evidence.py  Match and its evidence: clauses, terms, positions, snippet, score
score.py     the score, 0 to 100 for both topic forms: where the parts fired (prominence) and how often
model.py     the watchlist: YAML section -> validated, compiled topics; loading and problems
"""

from monitor.watchlist.evidence import Evidence, Hit, Match, TermEvidence
from monitor.watchlist.matcher import ArticleText
from monitor.watchlist.model import EMPTY, Watchlist, load_watchlist, watchlist_file

__all__ = [
    "ArticleText",
    "EMPTY",
    "Evidence",
    "Hit",
    "Match",
    "TermEvidence",
    "Watchlist",
    "load_watchlist",
    "watchlist_file",
]
