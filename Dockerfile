# syntax=docker/dockerfile:1
# Build: docker build -t aauth-ps .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/aauth-ps/aauth-ps/ps/version.Version=${VERSION}" \
      -o /out/aauth-ps ./cmd/aauth-ps \
 && mkdir -p /out/data

# Distroless static: CA roots, tzdata, a nonroot user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aauth-ps /usr/local/bin/aauth-ps
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
WORKDIR /
ENV AAUTH_PS_LISTEN=:8443 \
    AAUTH_PS_DATABASE_URL=sqlite:/data/aauth-ps.db
EXPOSE 8443
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/aauth-ps"]
CMD ["serve"]
