DROP TABLE watchlist_items;
