//! States are closed sets, in Rust and in the database: a proposal's status and the
//! session pipeline's stored level are refused by SQLite when they are not one of the
//! enum's words, and a database from before the CHECK keeps its proposals.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::Row;
use std::path::Path;
use steward::execute::state::{Status, ALL};
use steward::sessions::status::PipelineLevel;
use steward::store::Store;

async fn pool(db: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(db))
        .await
        .unwrap()
}

async fn insert(pool: &SqlitePool, id: &str, status: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO proposals (action_id, created_at, updated_at, status, node, service, \
         requires_human, data) VALUES (?, 0, 0, ?, 'n', 's', 0, '{}')",
    )
    .bind(id)
    .bind(status)
    .execute(pool)
    .await
    .map(|_| ())
}

#[tokio::test]
async fn the_database_takes_every_status_of_the_enum_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    Store::open(&db, std::sync::Arc::new(steward::clock::SystemClock))
        .await
        .unwrap()
        .close()
        .await;
    let pool = pool(&db).await;
    for (i, status) in ALL.iter().enumerate() {
        insert(&pool, &format!("p{i}"), status.as_str())
            .await
            .unwrap_or_else(|e| panic!("{status} is taken: {e}"));
    }
    for junk in ["done", "PENDING", "", "pending "] {
        let err = insert(&pool, &format!("junk-{junk}"), junk)
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains("CHECK constraint failed"),
            "{junk:?}: {err}"
        );
    }
}

#[tokio::test]
async fn the_stored_pipeline_level_is_one_of_the_three() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    let store = Store::open(&db, std::sync::Arc::new(steward::clock::SystemClock))
        .await
        .unwrap();
    for level in PipelineLevel::ALL {
        store
            .set_setting("session_pipeline_level", Some(level.as_str()))
            .await
            .unwrap();
    }
    let err = store
        .set_setting("session_pipeline_level", Some("red"))
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("must be ok, info or warning"),
        "{err}"
    );
    store.set_setting("other", Some("red")).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn proposals_stored_before_the_check_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    // The database as the last release left it: every migration before 0006.
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&repo).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0006" {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    let before = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&before)
        .await
        .unwrap();
    insert(&before, "kept-pending", "pending").await.unwrap();
    insert(&before, "kept-resolved", "resolved").await.unwrap();
    before.close().await;

    let store = Store::open(&db, std::sync::Arc::new(steward::clock::SystemClock))
        .await
        .unwrap();
    assert_eq!(store.count_proposals(Status::Pending).await.unwrap(), 1);
    store.close().await;
    let pool = self::pool(&db).await;
    let rows = sqlx::query("SELECT action_id, status FROM proposals ORDER BY action_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let rows: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        rows,
        [
            ("kept-pending".to_owned(), "pending".to_owned()),
            ("kept-resolved".to_owned(), "resolved".to_owned())
        ]
    );
    assert!(
        insert(&pool, "after", "bogus").await.is_err(),
        "checked now"
    );
}
