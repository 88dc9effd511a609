"""SQLAlchemy models. Alembic migrations in ``migrations/`` create exactly these (a test checks for drift)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Explicit constraint names, so migrations can alter constraints on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

URL_LENGTH = 2048
SITE_NAME_LENGTH = 200


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Feed(Base):
    """A configured source and its poll state. Rows are kept when a feed leaves the config (disabled)."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    kind: Mapped[str] = mapped_column(String(20), default="rss")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str | None] = mapped_column(Text)

    # Conditional GET validators, as the server sent them.
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(200))
    # The SHA-256 of the last document read in full, kept as the validators are: a server that sends none,
    # or ignores them, still has an unchanged feed known without parsing it.
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    # The feed's own <ttl> (minutes) from the last document read in full: it holds off the polls after a
    # 304 or the same bytes too, which read no document.
    ttl_minutes: Mapped[int | None] = mapped_column(Integer)
    # Where its address moved for good (the end of its permanent redirects, as its last success met them) and
    # since when it has: the address to put in feeds.yaml before the old one stops answering.
    moved_to: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    moved_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How far its links may go ("any", "public"), by the address that answered its last successful poll: the
    # links of pushed content and of retried pages are judged by it, never by a later lookup of its host.
    links_reach: Mapped[str | None] = mapped_column(String(10))

    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the feed last came whole (a success with a body, not a 304): see monitor.schedule.WHOLE_FETCH_EVERY.
    fetched_whole_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Its last publication, while it answers but has gone silent (monitor.schedule.silence); None otherwise.
    silent_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    last_warning: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A server's explicit "not before" (Retry-After); even a manual poll waits for it.
    retry_after_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the server answered 410 Gone: the feed is no longer polled.
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # JSON [[start, end], ...]: when the daemon was away and the feed's listing could not show what came
    # meanwhile (monitor.schedule.unwatched_spell); its rhythm leaves these stretches out.
    unwatched: Mapped[str | None] = mapped_column(Text)

    # Which instance is polling the feed, until when: several daemons can share one database.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process holding the lease: an instance on the same host can tell that it died (killed, crashed)
    # and take its feeds over at once. The start time (clock ticks after boot, from /proc) tells a PID
    # reused by another process from the one that took the lease.
    lease_host: Mapped[str | None] = mapped_column(String(255))
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    lease_pid_started: Mapped[int | None] = mapped_column(BigInteger)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    entries: Mapped[list[ArticleFeed]] = relationship(back_populates="feed", passive_deletes=True)


class Article(Base):
    """One article, however many feeds carried it."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    canonical_url: Mapped[str] = mapped_column(String(URL_LENGTH), unique=True)
    guid: Mapped[str | None] = mapped_column(String(URL_LENGTH), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    language: Mapped[str | None] = mapped_column(String(20))
    # The publisher as the page names itself (og:site_name, schema.org publisher): how digests name outlets.
    site_name: Mapped[str | None] = mapped_column(String(SITE_NAME_LENGTH))
    body: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str | None] = mapped_column(Text)
    # extracted | feed | failed, and why when it is not "extracted".
    body_source: Mapped[str] = mapped_column(String(20))
    body_note: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)

    # Deduplication (monitor/dedupe): the wire cluster and story the article belongs to, and why.
    wire_cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("wire_clusters.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    agency: Mapped[str | None] = mapped_column(String(40))  # the news agency its text credits
    agency_evidence: Mapped[str | None] = mapped_column(Text)
    # exact | minhash | new (first of its cluster), and the stored article it was matched to, with scores.
    wire_method: Mapped[str | None] = mapped_column(String(20))
    # Indexed for an original's exact copies, found when its text changes: without, each such change read
    # the whole table, every body of a year of articles.
    wire_match_id: Mapped[int | None] = mapped_column(Integer, index=True)
    wire_score: Mapped[float | None] = mapped_column(Float)
    story_score: Mapped[float | None] = mapped_column(Float)
    # JSON: the parts of story_score and the terms that contributed most, as the stage computed them.
    story_evidence: Mapped[str | None] = mapped_column(Text)
    # How often the text changed after it was first stored (the same URL re-fetched with new text).
    revisions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A page that failed for a passing reason (timeout, broken connection, 5xx, 429) is fetched again at
    # page_retry_at; page_retries counts the attempts made since. NULL: nothing left to try.
    page_retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    page_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    feeds: Mapped[list[ArticleFeed]] = relationship(back_populates="article", passive_deletes=True)


class ArticleFeed(Base):
    """An article's appearance in one feed, under the key that feed gave it (GUID, else link, else a hash).

    A feed can carry one article under two keys (two links that resolve to one canonical URL); each key is
    kept so that neither is fetched again.
    """

    __tablename__ = "article_feeds"
    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key", name="uq_article_feeds_feed_id_entry_key"),
        # A feed's entries by when they were first listed: what every poll reads its rhythm from. Without it,
        # a wire feed kept for a year had its 36,000 links scanned at each poll to find the week's 700.
        Index("ix_article_feeds_feed_id_first_seen_at", "feed_id", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(URL_LENGTH))
    entry_url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A hash of what the feed said of the entry (title, summary, content, date): when it changes, the
    # article is fetched again (monitor.dedupe.updates).
    entry_hash: Mapped[str | None] = mapped_column(String(64))
    # How long after its stated publication the article this link brought in was stored, when that delay is
    # the daemon's (monitor.schedule.news_delay): what `monitor feeds` reads each feed's freshness from.
    delay_seconds: Mapped[int | None] = mapped_column(Integer)

    article: Mapped[Article] = relationship(back_populates="feeds")
    feed: Mapped[Feed] = relationship(back_populates="entries")


class PrunedEntry(Base):
    """What stays of an article that retention removed, per feed that carried it: enough to know it again
    while a feed still lists it (its entry key in that feed, its GUID, its canonical URL), and no more.

    ``seen_at`` is when a feed last listed it; a row not seen for the articles window is forgotten.
    """

    __tablename__ = "pruned_entries"
    __table_args__ = (UniqueConstraint("feed_id", "entry_key", name="uq_pruned_entries_feed_id_entry_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(URL_LENGTH))
    guid: Mapped[str | None] = mapped_column(String(URL_LENGTH), index=True)
    canonical_url: Mapped[str] = mapped_column(String(URL_LENGTH), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Story(Base):
    """Articles on one event, in whatever words (the story level of deduplication)."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    representative_id: Mapped[int | None] = mapped_column(Integer)  # an article id; no constraint, see below
    size: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # JSON {term: weight}: the normalised mean of the members' term vectors (monitor.dedupe.stories).
    profile: Mapped[str] = mapped_column(Text, default="{}")


class WireCluster(Base):
    """Copies of one text (the wire level): an agency story and its reprints, or one article alone.

    ``representative_id`` names an article without a foreign key: articles point to their cluster, and a
    constraint both ways would make each insert a two-step dance.
    """

    __tablename__ = "wire_clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    representative_id: Mapped[int | None] = mapped_column(Integer)
    agency: Mapped[str | None] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer, default=0)
    # The body length of the longest member, which the representative rule weighs a joining copy against
    # (``monitor.dedupe.representative``); None when not known (clusters older than it, or pruned since).
    longest_body: Mapped[int | None] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LshBand(Base):
    """One MinHash LSH band key of an article: the near-duplicate index, shared by every instance.

    The primary key (band key, time, article) is the lookup: one range scan per key within the time window,
    so lookups cost the same however large the store grows. On SQLite the table is stored in that order
    (WITHOUT ROWID), so the scan reads neighbouring rows. The time is Unix seconds rather than a timestamp:
    forty-odd rows per article make this the largest index, and an integer is a quarter of a timestamp's
    bytes on SQLite, which makes inserts a quarter cheaper at 100,000 articles.
    """

    __tablename__ = "lsh_bands"
    __table_args__ = ({"sqlite_with_rowid": False},)

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seen_epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TermCount(Base):
    """In how many articles a term occurs, for the story level's IDF. The empty term counts the articles.

    ``last_counted`` (Unix seconds) is the fetch time of the latest article counted: once it is older than
    the articles retention keeps, every article that counted the term is gone, and so is the row.
    """

    __tablename__ = "term_counts"

    term: Mapped[str] = mapped_column(String(60), primary_key=True)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    last_counted: Mapped[int | None] = mapped_column(BigInteger)


class ArticleMatch(Base):
    """A watchlist topic that an article matched, and why (``monitor.watchlist.evidence``, as JSON).

    ``watchlist`` is the fingerprint of the watchlist that tagged it, so a retag can tell what changed.
    """

    __tablename__ = "article_matches"
    __table_args__ = (UniqueConstraint("article_id", "topic", name="uq_article_matches_article_id_topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(200), index=True)
    score: Mapped[float] = mapped_column(Float)
    snippet: Mapped[str] = mapped_column(Text, default="")  # highlights marked **like this**
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    watchlist: Mapped[str] = mapped_column(String(20), default="")
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ParagraphCount(Base):
    """In how many wire clusters a paragraph occurs: one seen under several unrelated texts is boilerplate,
    and the story level leaves it out (``monitor.dedupe.stories.paragraph_keys``)."""

    __tablename__ = "paragraph_counts"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    clusters: Mapped[int] = mapped_column(Integer, default=0)
    last_counted: Mapped[int | None] = mapped_column(BigInteger)  # as TermCount.last_counted


class StoryKey(Base):
    """A story's strongest terms, indexed: the stories an article is compared with are those sharing one of
    its own strongest terms within the window, so the story level, like the wire level, reads a bounded
    part of the store however large it grows (the latest ``stories.ROWS_PER_TERM`` rows of each term)."""

    __tablename__ = "story_keys"
    __table_args__ = ({"sqlite_with_rowid": False},)

    term: Mapped[str] = mapped_column(String(60), primary_key=True)
    seen_epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Unix seconds
    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Delivery(Base):
    """One digest (or alert batch) on one channel for one period: the ledger row that decides who sends it.

    The unique (digest, kind, channel, period) row is taken by an INSERT, so of two daemons sharing a
    database only one sends; ``lease_until`` lets another take over a send that crashed half-way, and a
    ``sending`` row without a lease (its sender found gone) is taken over at once.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "digest", "kind", "channel", "period", name="uq_deliveries_digest_kind_channel_period"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # digest | alert
    channel: Mapped[str] = mapped_column(String(20))
    # The scheduled time the delivery belongs to; indexed for the ledger's listing, newest first.
    period: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # sending | sent | failed | superseded (a later delivery carried its stories) | empty (nothing new)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process that holds the lease (``monitor.store.leases``): one of this host found gone is taken over.
    lease_host: Mapped[str | None] = mapped_column(String(255))
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    lease_pid_started: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(300))
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)  # Slack: messages of a split digest accepted
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The message as its first recipients took it, kept while a recipient the server put off (a 4xx) is
    # still owed it: its retries send that same message to it alone. Cleared when the delivery is closed.
    kept_message: Mapped[bytes | None] = mapped_column(LargeBinary)


class DeliveryRecipient(Base):
    """One address of a delivery to several (an email's ``to``): whether the server took the message for it.

    ``status`` is accepted, deferred (refused for now, a 4xx: tried again) or refused (for good, a 5xx);
    ``reply`` is what the server said.
    """

    __tablename__ = "delivery_recipients"
    __table_args__ = (
        UniqueConstraint("delivery_id", "address", name="uq_delivery_recipients_delivery_id_address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))  # as sent, without its display name
    status: Mapped[str] = mapped_column(String(20))
    reply: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryItem(Base):
    """An article (under one topic) in a delivery; ``delivered_at`` is set once the channel accepted it."""

    __tablename__ = "delivery_items"
    __table_args__ = (
        UniqueConstraint(
            "delivery_id", "article_id", "topic", name="uq_delivery_items_delivery_id_article_id"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    story_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no constraint: stories get merged
    topic: Mapped[str] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSubSubscription(Base):
    """A feed's subscription at its WebSub hub: the hub pushes new content to ``/websub/<token>``.

    ``state`` is pending (asked, the hub has not verified), active (verified, until ``lease_until``),
    or denied (the hub refused, or could not be asked). A subscription no longer wanted (its feed left the
    configuration, or names no hub any more) is not cancelled at the hub: its pushes are answered 410 Gone.
    The secret signs what the hub pushes (HMAC); it is sent to the hub with each request for the subscription
    (renewals included), and never leaves the store otherwise.
    """

    __tablename__ = "websub_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), unique=True)
    hub: Mapped[str] = mapped_column(String(URL_LENGTH))
    topic: Mapped[str] = mapped_column(String(URL_LENGTH))
    # Where the hub was asked to push (ending in the token); empty for those asked before it was kept (until renewed).
    callback: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the callback's last path segment
    secret: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushes: Mapped[int] = mapped_column(Integer, default=0)
    # When a poll last found entries the hub had not pushed, and how many polls have found so far: a hub
    # that stopped pushing is not trusted until it pushes again (monitor.store.websub.Subscription.trusted).
    missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
