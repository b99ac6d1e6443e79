#include "server/tls.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtrec::server {
namespace {

constexpr const char* kKeyFile = "key.pem";
constexpr const char* kCertFile = "cert.pem";
constexpr const char* kCaFile = "client_ca.pem";

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(key, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not PEM";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> Bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<std::unique_ptr<X509, X509Deleter>> FirstCertificate(const std::string& pem,
                                                                    const std::string& what) {
  auto bio = Bio(pem);
  std::unique_ptr<X509, X509Deleter> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no PEM certificate (", OpenSslError(), ")"));
  }
  return cert;
}

// The key matches the chain's first certificate; the CA parses.
absl::Status CheckMaterial(const config::TlsOptions& o, const std::string& key, const std::string& chain,
                           const std::string& ca) {
  auto cert = FirstCertificate(chain, absl::StrCat("server.tls.cert_chain (", o.cert_chain, ")"));
  if (!cert.ok()) return cert.status();
  auto bio = Bio(key);
  std::unique_ptr<EVP_PKEY, KeyDeleter> pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) {
    return absl::InvalidArgumentError(absl::StrCat("server.tls.private_key (", o.private_key,
                                                   "): no unencrypted PEM private key (",
                                                   OpenSslError(), ")"));
  }
  if (X509_check_private_key(cert->get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("server.tls.private_key (", o.private_key,
                                                   "): does not match the certificate in ",
                                                   o.cert_chain));
  }
  if (!o.client_ca.empty()) {
    auto ca_cert = FirstCertificate(ca, absl::StrCat("server.tls.client_ca (", o.client_ca, ")"));
    if (!ca_cert.ok()) return ca_cert.status();
  }
  return absl::OkStatus();
}

// Replaces dir/name by `data` atomically (temp file + rename), mode 0600.
absl::Status WriteAtomically(const std::string& dir, const char* name, const std::string& data) {
  const std::string path = absl::StrCat(dir, "/", name);
  const std::string tmp = absl::StrCat(path, ".tmp");
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) return absl::InternalError(absl::StrCat("cannot rename ", tmp));
  return absl::OkStatus();
}

}  // namespace

TlsCredentials::TlsCredentials(const config::TlsOptions& options, std::string dir)
    : options_(options), dir_(std::move(dir)) {}

TlsCredentials::~TlsCredentials() {
  credentials_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

absl::StatusOr<std::unique_ptr<TlsCredentials>> TlsCredentials::Create(
    const config::TlsOptions& options) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/rtrec-tls-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("server.tls: cannot create a private directory ", pattern));
  }
  std::unique_ptr<TlsCredentials> t(new TlsCredentials(options, pattern));
  if (auto s = t->Reload(); !s.ok()) return s;
  const std::string ca_path = options.client_ca.empty() ? "" : absl::StrCat(t->dir_, "/", kCaFile);
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      absl::StrCat(t->dir_, "/", kKeyFile), absl::StrCat(t->dir_, "/", kCertFile), ca_path,
      kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.client_ca.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  t->credentials_ = grpc::experimental::TlsServerCredentials(tls);
  if (!t->credentials_) return absl::InternalError("server.tls: gRPC refused the TLS options");
  return t;
}

absl::Status TlsCredentials::Reload() {
  auto key = ReadFile(options_.private_key, "server.tls.private_key");
  if (!key.ok()) return key.status();
  auto chain = ReadFile(options_.cert_chain, "server.tls.cert_chain");
  if (!chain.ok()) return chain.status();
  std::string ca;
  if (!options_.client_ca.empty()) {
    auto read = ReadFile(options_.client_ca, "server.tls.client_ca");
    if (!read.ok()) return read.status();
    ca = std::move(*read);
  }
  if (auto s = CheckMaterial(options_, *key, *chain, ca); !s.ok()) return s;
  // The watcher re-reads the pair when either changes and checks that they
  // match, so a read between the two renames keeps the old pair.
  if (auto s = WriteAtomically(dir_, kKeyFile, *key); !s.ok()) return s;
  if (auto s = WriteAtomically(dir_, kCertFile, *chain); !s.ok()) return s;
  if (!options_.client_ca.empty()) {
    if (auto s = WriteAtomically(dir_, kCaFile, ca); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rtrec::server
