"""Getting news in: fetching politely and safely, parsing feeds, sitemaps and pages, extracting articles, and when to poll next."""
