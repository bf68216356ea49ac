# One image for every Accolade process (the four services, the gateway, the
# CLI), built from Debian 12's packages as on the development machines.
#   docker build -t accolade .
#   docker run accolade svc-award     (the command picks the process)
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libgrpc-dev protobuf-c-compiler libprotobuf-c-dev \
      protobuf-compiler libhiredis-dev libpq-dev libssl-dev libcurl4-openssl-dev libjson-c-dev \
      libmicrohttpd-dev libnghttp2-dev zlib1g-dev libabsl-dev libgoogle-perftools-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DACCOLADE_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" \
    && mkdir -p /out/src \
    && for d in common svc-*; do \
         if [ -d "$d/migrations" ]; then mkdir -p "/out/src/$d" && cp -r "$d/migrations" "/out/src/$d/"; fi; \
       done

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libgrpc29 libprotobuf-c1 libhiredis0.14 libpq5 libssl3 libcurl4 libjson-c5 libmicrohttpd12 libnghttp2-14 \
      libtcmalloc-minimal4 libabsl20220623 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 accolade
COPY --from=build /build/bin/ /usr/local/bin/
# Migrations stay at the paths compiled into the binaries.
COPY --from=build /out/src/ /src/
USER 10001
EXPOSE 50050 50051 50052 50053 50054
