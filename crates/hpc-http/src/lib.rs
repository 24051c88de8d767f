#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod body;
mod client;
mod request;
mod response;
mod retry;
mod tls;
pub mod url;

pub use body::Body;
pub use client::{HttpClient, HttpClientBuilder, Timeouts};
pub use http::{HeaderMap, Method, StatusCode};
pub use request::Request;
pub use response::Response;
pub use retry::RetryConfig;
