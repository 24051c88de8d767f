//! S3 answers for [`HttpServer`](super::http::HttpServer) (a listing result).

/// A `ListObjectsV2` result naming `keys` (with their sizes) below `prefix`.
pub fn list_objects(bucket: &str, prefix: &str, keys: &[(&str, u64)]) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>{bucket}</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"#,
        keys.len()
    );
    for (key, size) in keys {
        xml.push_str(&format!(
            "<Contents><Key>{key}</Key><LastModified>2026-11-27T13:21:05.000Z</LastModified>\
             <ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag><Size>{size}</Size>\
             <StorageClass>STANDARD</StorageClass></Contents>"
        ));
    }
    xml + "</ListBucketResult>"
}
