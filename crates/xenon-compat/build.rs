//! Generates the gRPC server (and a test client) from `proto/xenon.proto` with protox,
//! a pure-Rust protobuf compiler, so no system `protoc` is needed (ADR 0902).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/xenon.proto");
    let fds = protox::compile(["xenon.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
