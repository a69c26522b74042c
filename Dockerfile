# syntax=docker/dockerfile:1
# Multi-stage: build with the Rust toolchain, run from a distroless, shell-less, non-root image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY deploy/classes.yaml ./deploy/classes.yaml
RUN cargo build --release --locked --bin continuo \
 && strip target/release/continuo

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/continuo /usr/local/bin/continuo
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/continuo"]
CMD ["run"]
