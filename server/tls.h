// TLS for the gRPC port (server.tls): server credentials whose certificate,
// key and client CA can be replaced while serving.
//
// gRPC's FileWatcherCertificateProvider serves what it reads from files; it
// watches private copies that rtrec writes into a 0700 directory of its own.
// Start and Reload() (SIGHUP) read the configured files, check them with
// OpenSSL (PEM parses, the key matches the certificate, the client CA is a
// certificate) and only then replace the copies, so an operator's half-written
// or mismatched pair is refused, naming the file, and the old pair keeps
// serving. New connections see a reload within kRefreshSeconds.
//
// Thread safety: Reload may run on any one thread at a time.
#ifndef RTREC_SERVER_TLS_H_
#define RTREC_SERVER_TLS_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "config/options.h"

namespace rtrec::server {

class TlsCredentials {
 public:
  static constexpr unsigned kRefreshSeconds = 1;

  // REQUIRES: options.enabled().
  static absl::StatusOr<std::unique_ptr<TlsCredentials>> Create(const config::TlsOptions& options);
  ~TlsCredentials();

  std::shared_ptr<grpc::ServerCredentials> server_credentials() const { return credentials_; }
  // Re-reads and checks the configured files; on success new connections use
  // them within kRefreshSeconds.
  absl::Status Reload();

 private:
  TlsCredentials(const config::TlsOptions& options, std::string dir);

  const config::TlsOptions options_;
  const std::string dir_;  // the private copies
  std::shared_ptr<grpc::ServerCredentials> credentials_;
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_TLS_H_
