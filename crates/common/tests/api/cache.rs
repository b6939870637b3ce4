//! `TagCache` against a real Redis: tags invalidate every entry carrying them, a reader that
//! loaded before an invalidation cannot store its stale value, and an unreachable Redis is a
//! miss, never an error.

use std::time::Duration;

use marquee_common::{
    cache::{CacheConfig, Freshness, Lookup, TagCache},
    http::metrics::Metrics,
    redis,
};
use uuid::Uuid;

fn cache_on(url: &str, recent_window: Duration) -> TagCache {
    let mut config = CacheConfig::for_url(url);
    config.key_prefix = format!("test-{}", Uuid::now_v7().simple());
    config.recent_window = recent_window;
    let connection = redis::connect(&config.redis).unwrap();
    TagCache::new("things", connection, &config, &Metrics::new())
}

fn shared() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|t| (*t).to_owned()).collect()
}

#[tokio::test]
async fn invalidating_a_tag_makes_every_entry_carrying_it_stale() {
    let cache = cache_on(&shared(), Duration::from_secs(5));
    for (key, entry_tags) in [("a", ["thing:a", "things"]), ("b", ["thing:b", "things"])] {
        let Lookup::Miss(miss) = cache.lookup::<String>(key, &tags(&entry_tags)).await else {
            panic!("empty cache");
        };
        assert_eq!(miss.freshness, Freshness::Settled);
        cache.fill(miss, &format!("value {key}")).await;
    }
    let Lookup::Hit(a) = cache
        .lookup::<String>("a", &tags(&["thing:a", "things"]))
        .await
    else {
        panic!("filled");
    };
    assert_eq!(a, "value a");

    cache.invalidate(&tags(&["thing:b"])).await;
    assert!(matches!(
        cache
            .lookup::<String>("a", &tags(&["thing:a", "things"]))
            .await,
        Lookup::Hit(_)
    ));
    let Lookup::Miss(miss) = cache
        .lookup::<String>("b", &tags(&["thing:b", "things"]))
        .await
    else {
        panic!("invalidated by its own tag");
    };
    assert_eq!(miss.freshness, Freshness::RecentlyChanged);

    cache.invalidate(&tags(&["things"])).await;
    assert!(matches!(
        cache
            .lookup::<String>("a", &tags(&["thing:a", "things"]))
            .await,
        Lookup::Miss(_)
    ));
}

#[tokio::test]
async fn a_value_loaded_before_an_invalidation_is_not_stored_over_it() {
    let cache = cache_on(&shared(), Duration::ZERO);
    let key_tags = tags(&["thing:x"]);
    // A reader misses and loads the old value…
    let Lookup::Miss(slow_reader) = cache.lookup::<String>("x", &key_tags).await else {
        panic!("empty cache");
    };
    // …meanwhile a writer commits and invalidates…
    cache.invalidate(&key_tags).await;
    // …and the reader stores what it loaded.
    cache.fill(slow_reader, &"old".to_owned()).await;

    let Lookup::Miss(miss) = cache.lookup::<String>("x", &key_tags).await else {
        panic!("the old value must not be served");
    };
    assert_eq!(
        miss.freshness,
        Freshness::Settled,
        "no marker with a zero window"
    );
    cache.fill(miss, &"new".to_owned()).await;
    let loaded = cache
        .get_or_load("x", &key_tags, |_| async {
            Ok::<_, std::convert::Infallible>(Some("from the database".to_owned()))
        })
        .await
        .unwrap();
    assert_eq!(loaded.as_deref(), Some("new"));
}

#[tokio::test]
async fn an_unreachable_redis_is_a_miss_and_fills_and_invalidations_do_not_fail() {
    // Nothing listens on port 1.
    let cache = cache_on("redis://127.0.0.1:1", Duration::from_secs(5));
    let key_tags = tags(&["thing:y"]);
    for _ in 0..3 {
        let loaded = cache
            .get_or_load("y", &key_tags, |freshness| async move {
                assert_eq!(freshness, Freshness::Settled);
                Ok::<_, std::convert::Infallible>(Some(42))
            })
            .await
            .unwrap();
        assert_eq!(loaded, Some(42));
    }
    cache.invalidate(&key_tags).await;
}
