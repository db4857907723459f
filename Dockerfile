# syntax=docker/dockerfile:1
# Build: docker build -t aauth-ps .
# The same image as `make image` (internal/ociimage), which needs no Docker:
# the static binary, the CA certificates, user 65532 ("nonroot"), no shell.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces the SQLite driver with this directory (docs/decisions.md).
COPY internal/gosqlite/ internal/gosqlite/
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=0 go build -trimpath -tags nomsgpack \
      -ldflags "-s -w -X github.com/aauth-ps/aauth-ps/ps/version.Version=${VERSION}" \
      -o /out/usr/local/bin/aauth-ps ./cmd/aauth-ps \
 && mkdir -p /out/etc/ssl/certs /out/data /out/home/nonroot /out/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/etc/group \
 && chown 65532:65532 /out/data /out/home/nonroot \
 && chmod 0700 /out/data /out/home/nonroot && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /out/ /
USER 65532:65532
WORKDIR /
ENV PATH=/usr/local/bin \
    AAUTH_PS_LISTEN=:8443 \
    AAUTH_PS_DATABASE_URL=sqlite:/data/aauth-ps.db
EXPOSE 8443
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/aauth-ps"]
CMD ["serve"]
