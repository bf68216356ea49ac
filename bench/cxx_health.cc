// cxx_health.cc - the peer for bench/runtime.sh: grpc.health.v1.Health/Check
// on gRPC's own C++ async API, written the way gRPC's examples and its qps
// benchmark server write it, with the library's defaults: one completion
// queue per thread, a call object per outstanding Check, each thread
// re-arming the request it just answered. No logging (gRPC C++ has no access
// log), so it is the ceiling the runtime's access-logged Check is held to.
//
//   accolade-cxx-health --listen 127.0.0.1:PORT --threads N
//
// Built by bench/runtime.sh with g++ from the same health.proto the runtime
// serves (protoc + grpc_cpp_plugin, Debian's libgrpc++-dev 1.51).
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

namespace {

// One outstanding Check: requested, then answered, then freed (a fresh one
// is requested first, so the server always has a call waiting per queue).
class Call {
 public:
  Call(Health::AsyncService *svc, grpc::ServerCompletionQueue *cq)
      : svc_(svc), cq_(cq), writer_(&ctx_) {
    svc_->RequestCheck(&ctx_, &req_, &writer_, cq_, cq_, this);
  }
  void Proceed(bool ok) {
    if (answered_ || !ok) {
      delete this;
      return;
    }
    new Call(svc_, cq_);
    resp_.set_status(HealthCheckResponse::SERVING);
    answered_ = true;
    writer_.Finish(resp_, grpc::Status::OK, this);
  }

 private:
  Health::AsyncService *svc_;
  grpc::ServerCompletionQueue *cq_;
  grpc::ServerContext ctx_;
  HealthCheckRequest req_;
  HealthCheckResponse resp_;
  grpc::ServerAsyncResponseWriter<HealthCheckResponse> writer_;
  bool answered_ = false;
};

void Serve(Health::AsyncService *svc, grpc::ServerCompletionQueue *cq) {
  // Several calls requested ahead per queue, as the qps server does.
  for (int i = 0; i < 64; i++) new Call(svc, cq);
  void *tag;
  bool ok;
  while (cq->Next(&tag, &ok)) static_cast<Call *>(tag)->Proceed(ok);
}

}  // namespace

int main(int argc, char **argv) {
  std::string listen = "127.0.0.1:50051";
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--listen")) listen = argv[i + 1];
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
  }
  Health::AsyncService svc;
  grpc::ServerBuilder b;
  b.AddListeningPort(listen, grpc::InsecureServerCredentials());
  b.RegisterService(&svc);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  for (int i = 0; i < threads; i++) cqs.push_back(b.AddCompletionQueue());
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  if (!server) {
    fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return 1;
  }
  fprintf(stderr, "serving on %s, %d threads\n", listen.c_str(), threads);
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; i++) ts.emplace_back(Serve, &svc, cqs[i].get());
  for (auto &t : ts) t.join();
}
