//! CouchDB answers for [`HttpServer`](super::http::HttpServer): `_bulk_docs`
//! results and saved-document answers that claim whatever a test wants
//! (ids that were not sent, revisions that do not follow the one sent).

use serde_json::{Value, json};

use super::http::Answer;

/// A `_bulk_docs` answer: `(id, rev)` written for each pair.
pub fn bulk_written(items: &[(&str, &str)]) -> Answer {
    let body: Vec<Value> =
        items.iter().map(|(id, rev)| json!({"ok": true, "id": id, "rev": rev})).collect();
    Answer::full(201, "application/json", Value::Array(body).to_string())
}

/// A `PUT /db/id` answer saying `id` was written with `rev`.
pub fn saved(id: &str, rev: &str) -> Answer {
    Answer::full(201, "application/json", json!({"ok": true, "id": id, "rev": rev}).to_string())
}

/// The JSON `GET /db` answers for a database `db`.
pub fn db_info(db: &str) -> Answer {
    Answer::full(
        200,
        "application/json",
        json!({"db_name": db, "doc_count": 1, "doc_del_count": 0, "update_seq": "1-x"}).to_string(),
    )
}
