//! The catalogue from a (fake) TMDb: mapping into our shape, authentication, validation.

use marquee_testkit::RedisProcess;
use movies_service::catalogue::{ResponseCacheConfig, tmdb::Credentials};
use serde_json::Value;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use crate::helpers::{TMDB_TOKEN, fixture, spawn, spawn_app, spawn_app_with, tmdb_config};

#[tokio::test]
async fn popular_movies_are_mapped_into_our_own_shape() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/3/movie/popular"))
        .and(query_param("page", "2"))
        .and(query_param("language", "pt-BR"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("popular")))
        .mount(app.tmdb())
        .await;
    app.tmdb_serves("/genre/movie/list", "genres").await;

    let response = app.get("/v1/movies/popular?page=2&language=PT-br").await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["page"], 1, "as TMDb said");
    assert_eq!(page["total_pages"], 500, "TMDb serves no page past 500");
    assert_eq!(page["total_results"], 964257);
    let matrix = &page["results"][0];
    assert_eq!(
        matrix,
        &serde_json::json!({
            "id": 603,
            "title": "The Matrix",
            "original_title": "The Matrix",
            "original_language": "en",
            "overview": "A hacker learns that the world he lives in is a simulation.",
            "release_date": "1999-03-31",
            "genres": [
                {"id": 878, "name": "Science Fiction"},
                {"id": 28, "name": "Action"}
            ],
            "vote_average": 8.2,
            "vote_count": 26000,
            "poster_url": "https://image.tmdb.org/t/p/w500/matrix-poster.jpg"
        }),
        "our shape, not TMDb's (no popularity, adult, genre_ids, backdrop_path)"
    );
    let spirited = &page["results"][1];
    assert_eq!(spirited["original_title"], "千と千尋の神隠し");
    assert_eq!(
        spirited["release_date"],
        Value::Null,
        "TMDb's \"\" date is unknown"
    );
    assert_eq!(spirited["overview"], Value::Null);
    assert_eq!(spirited["poster_url"], Value::Null);
    assert_eq!(
        spirited["genres"],
        serde_json::json!([{"id": 18, "name": "Drama"}, {"id": 10752, "name": "War"}]),
        "an unknown genre id is left out"
    );
}

#[tokio::test]
async fn details_are_mapped_and_an_unknown_id_is_404() {
    let app = spawn_app().await;
    app.tmdb_serves("/movie/603", "movie_603").await;
    Mock::given(method("GET"))
        .and(path("/3/movie/999999999"))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture("not_found")))
        .mount(app.tmdb())
        .await;

    let movie: Value = app.get("/v1/movies/603").await.json().await.unwrap();
    assert_eq!(movie["title"], "The Matrix");
    assert_eq!(movie["runtime"], 136);
    assert_eq!(movie["tagline"], "Welcome to the Real World.");
    assert_eq!(
        movie["genres"],
        serde_json::json!([{"id": 28, "name": "Action"}, {"id": 878, "name": "Science Fiction"}])
    );
    assert_eq!(
        movie["poster_url"],
        "https://image.tmdb.org/t/p/w500/matrix-poster.jpg"
    );
    assert!(movie.get("budget").is_none() && movie.get("imdb_id").is_none());

    for _ in 0..2 {
        let missing = app.get("/v1/movies/999999999").await;
        assert_eq!(missing.status(), 404);
        let problem: Value = missing.json().await.unwrap();
        assert_eq!(problem["code"], "movie_not_found");
    }
    assert_eq!(
        app.tmdb_calls("/movie/999999999").await,
        1,
        "a 404 is cached too"
    );

    for (bad, status) in [("0", 422), ("-4", 422), ("abc", 400), ("1.5", 400)] {
        let response = app.get(&format!("/v1/movies/{bad}")).await;
        assert_eq!(response.status(), status, "{bad}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn search_sends_the_query_and_caches_it_case_insensitively() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/3/search/movie"))
        .and(query_param("query", "The Matrix"))
        .and(query_param("include_adult", "false"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("search_matrix")))
        .mount(app.tmdb())
        .await;
    app.tmdb_serves("/genre/movie/list", "genres").await;

    let first = app.get("/v1/movies/search?q=%20The%20%20Matrix%20").await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("fwd=miss")
    );
    let page: Value = first.json().await.unwrap();
    assert_eq!(page["results"][0]["id"], 603);

    let again = app.get("/v1/movies/search?q=the+matrix").await;
    assert!(
        again.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("; hit"),
        "{:?}",
        again.headers()
    );
    assert_eq!(app.tmdb_calls("/search/movie").await, 1);
}

#[tokio::test]
async fn bad_catalogue_parameters_are_422_with_every_field_named() {
    let app = spawn_app().await;
    let response = app
        .get("/v1/movies/search?q=%20%20&page=0&language=english")
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "validation_failed");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["q", "page", "language"]);

    assert_eq!(app.get("/v1/movies/search").await.status(), 422, "no q");
    assert_eq!(app.get("/v1/movies/popular?page=501").await.status(), 422);
    assert_eq!(app.get("/v1/movies/popular?page=two").await.status(), 400);
    assert!(
        app.tmdb().received_requests().await.unwrap().is_empty(),
        "nothing reached TMDb"
    );
}

#[tokio::test]
async fn the_read_token_is_sent_as_a_bearer_header() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/3/genre/movie/list"))
        .and(header(
            "authorization",
            format!("Bearer {TMDB_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("genres")))
        .mount(app.tmdb())
        .await;

    let response = app.get("/v1/movies/genres").await;
    assert_eq!(response.status(), 200);
    let genres: Value = response.json().await.unwrap();
    assert_eq!(
        genres["genres"][0],
        serde_json::json!({"id": 28, "name": "Action"})
    );
    let requests = app.tmdb().received_requests().await.unwrap();
    assert!(requests[0].url.query_pairs().all(|(k, _)| k != "api_key"));
}

#[tokio::test]
async fn the_v3_key_is_sent_as_the_api_key_parameter() {
    let tmdb = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/3/genre/movie/list"))
        .and(query_param("api_key", "v3-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("genres")))
        .mount(&tmdb)
        .await;
    let config = tmdb_config(
        Credentials::ApiKey("v3-key".to_owned().into()),
        format!("{}/3", tmdb.uri()),
    );
    let app = spawn(Some(config), Some(tmdb), |_| {}).await;

    assert_eq!(app.get("/v1/movies/genres").await.status(), 200);
    let requests = app.tmdb().received_requests().await.unwrap();
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn refused_credentials_are_a_503_and_are_not_retried() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "success": false, "status_code": 7, "status_message": "Invalid API key: You must be granted a valid key."
        })))
        .mount(app.tmdb())
        .await;

    let response = app.get("/v1/movies/603").await;
    assert_eq!(response.status(), 503);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "catalogue_unavailable");
    let text = problem.to_string();
    assert!(
        !text.contains("TMDB_") && !text.contains("credentials"),
        "{text}"
    );
    assert_eq!(app.tmdb_calls("/movie/603").await, 1);
}

#[tokio::test]
async fn with_the_cache_down_answers_come_from_tmdb() {
    let mut redis = RedisProcess::start().await;
    let url = redis.url();
    let app = spawn_app_with(move |config| {
        let prefix = config.catalogue.cache.key_prefix.clone();
        config.catalogue.cache = ResponseCacheConfig {
            key_prefix: prefix,
            ..ResponseCacheConfig::for_url(url)
        };
    })
    .await;
    app.tmdb_serves("/movie/603", "movie_603").await;
    assert_eq!(app.get("/v1/movies/603").await.status(), 200);

    redis.stop().await;
    for _ in 0..3 {
        let response = app.get("/v1/movies/603").await;
        assert_eq!(response.status(), 200);
        let movie: Value = response.json().await.unwrap();
        assert_eq!(movie["id"], 603);
    }
    assert!(
        app.tmdb_calls("/movie/603").await >= 2,
        "no cache: TMDb answered"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/v1/movies/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/v1/movies/popular",
        "/v1/movies/search",
        "/v1/movies/genres",
        "/v1/movies/{id}",
        "/v1/movies/watchlist",
        "/v1/movies/watchlist/{movie_id}",
    ] {
        assert!(paths.contains_key(expected), "{expected}");
    }
}
