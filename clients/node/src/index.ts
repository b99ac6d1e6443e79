// rtrec-client: the Node.js client of rtrec (rtrec.v1.Recommender over
// @grpc/grpc-js). Messages keep the API's snake_case field names (the loader
// runs with keepCase: proto-loader's default camelCase would silently drop
// `user_id` and the server would answer "user_id: must not be empty").
//
//   const rtrec = new RtrecClient("127.0.0.1:50051");
//   const slate = await rtrec.recommend({ user_id: "u1", k: 5 });
//   await rtrec.reportSlate("u1", slate, new Set([slate.items[0].item_id]));
//
// Every call has a deadline (timeoutMs). Calls refused with a code a retry
// can fix (UNAVAILABLE, or a refusal carrying google.rpc.RetryInfo: queue
// full, overloaded, learner behind) are retried with exponential backoff and
// jitter, waiting at least the server's retry delay, within the deadline.
// Errors are thrown as RtrecError with the google.rpc details decoded.
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

import type { ProtoGrpcType as RecommenderProto } from "./generated/recommender";
import type { ProtoGrpcType as HealthProto } from "./generated/health";
import type { RecommenderClient } from "./generated/rtrec/v1/Recommender";
import type { RecommendRequest } from "./generated/rtrec/v1/RecommendRequest";
import type { RecommendResponse__Output } from "./generated/rtrec/v1/RecommendResponse";
import type { FeedbackRequest } from "./generated/rtrec/v1/FeedbackRequest";
import type { FeedbackResponse__Output } from "./generated/rtrec/v1/FeedbackResponse";
import type { ModelInfo__Output } from "./generated/rtrec/v1/ModelInfo";
import type { HealthClient } from "./generated/grpc/health/v1/Health";

export type { RecommendRequest, RecommendResponse__Output as Slate, FeedbackRequest,
  FeedbackResponse__Output as FeedbackResult, ModelInfo__Output as ModelInfo };
export type { EventType } from "./generated/rtrec/v1/EventType";

const PROTO_DIR = path.resolve(__dirname, "..", "proto");

// The options the types in src/generated were written with.
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export interface FieldViolation {
  field: string;
  description: string;
}

/** A call rtrec refused, or that could not reach it. */
export class RtrecError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
    readonly reason: string,
    /** Seconds after which a retry can succeed; undefined when it cannot. */
    readonly retryDelaySeconds: number | undefined,
    readonly fieldViolations: FieldViolation[],
  ) {
    super(`${grpc.status[code]}: ${details}${reason ? ` [${reason}]` : ""}`);
    this.name = "RtrecError";
  }

  get retryable(): boolean {
    return this.retryDelaySeconds !== undefined || (this.code === grpc.status.UNAVAILABLE && !this.reason);
  }
}

let detailTypes: protobuf.Root | undefined;
function errorDetailTypes(): protobuf.Root {
  if (!detailTypes) {
    detailTypes = new protobuf.Root();
    detailTypes.resolvePath = (_origin, target) =>
      target.startsWith("google/protobuf/") ? target : path.join(PROTO_DIR, target);
    detailTypes.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
  }
  return detailTypes;
}

/** Decodes a grpc-js error (with its google.rpc details) into an RtrecError. */
export function toRtrecError(error: grpc.ServiceError): RtrecError {
  let reason = "";
  let retryDelay: number | undefined;
  let violations: FieldViolation[] = [];
  const blob = error.metadata?.get("grpc-status-details-bin")?.[0];
  if (blob instanceof Buffer) {
    const root = errorDetailTypes();
    const status = root.lookupType("google.rpc.Status").decode(blob) as unknown as {
      details: { type_url: string; value: Uint8Array }[];
    };
    for (const any of status.details ?? []) {
      const name = any.type_url.substring(any.type_url.lastIndexOf("/") + 1);
      if (name === "google.rpc.ErrorInfo") {
        reason = (root.lookupType(name).decode(any.value) as unknown as { reason: string }).reason;
      } else if (name === "google.rpc.RetryInfo") {
        const d = (root.lookupType(name).decode(any.value) as unknown as {
          retry_delay?: { seconds?: number | { toNumber(): number }; nanos?: number };
        }).retry_delay;
        const seconds = typeof d?.seconds === "object" ? d.seconds.toNumber() : Number(d?.seconds ?? 0);
        retryDelay = seconds + (d?.nanos ?? 0) / 1e9;
      } else if (name === "google.rpc.BadRequest") {
        violations = (root.lookupType(name).decode(any.value) as unknown as {
          field_violations: FieldViolation[];
        }).field_violations.map((v) => ({ field: v.field, description: v.description }));
      }
    }
  }
  const hint = error.metadata?.get("retry-after-ms")?.[0];
  if (retryDelay === undefined && hint !== undefined) retryDelay = Number(hint) / 1000;
  return new RtrecError(error.code, error.details, reason, retryDelay, violations);
}

export interface RtrecClientOptions {
  /** Bearer token (server.auth.tokens_file). */
  token?: string;
  /** Deadline of each call, retries included. Default 5000 ms. */
  timeoutMs?: number;
  /** Attempts per call, the first included. Default 4. */
  maxAttempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Default: plaintext. grpc.credentials.createSsl(ca, key, cert) for TLS. */
  credentials?: grpc.ChannelCredentials;
  /** How the client waits between attempts (tests inject their own). */
  sleep?: (ms: number) => Promise<void>;
}

type Unary<Req, Res> = (
  request: Req, metadata: grpc.Metadata, options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

export class RtrecClient {
  private readonly stub: RecommenderClient;
  private readonly healthStub: HealthClient;
  private readonly options: Required<Omit<RtrecClientOptions, "token" | "credentials">>;
  private readonly metadata: grpc.Metadata;

  constructor(target = "127.0.0.1:50051", options: RtrecClientOptions = {}) {
    const definition = protoLoader.loadSync(
      ["rtrec/v1/recommender.proto", "grpc/health/v1/health.proto"], LOADER_OPTIONS);
    const loaded = grpc.loadPackageDefinition(definition) as unknown as RecommenderProto & HealthProto;
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.stub = new loaded.rtrec.v1.Recommender(target, credentials);
    this.healthStub = new loaded.grpc.health.v1.Health(target, credentials);
    this.options = {
      timeoutMs: options.timeoutMs ?? 5000,
      maxAttempts: Math.max(1, options.maxAttempts ?? 4),
      initialBackoffMs: options.initialBackoffMs ?? 50,
      maxBackoffMs: options.maxBackoffMs ?? 2000,
      sleep: options.sleep ?? sleep,
    };
    this.metadata = new grpc.Metadata();
    if (options.token) this.metadata.set("authorization", `Bearer ${options.token}`);
  }

  /** A ranked slate (k 0: the server's policy.default_k). */
  recommend(request: RecommendRequest): Promise<RecommendResponse__Output> {
    return this.call(this.stub.Recommend.bind(this.stub) as Unary<RecommendRequest, RecommendResponse__Output>, request);
  }

  /** What the user did with an item; request_id joins it to its slate. */
  feedback(request: FeedbackRequest): Promise<FeedbackResponse__Output> {
    return this.call(this.stub.Feedback.bind(this.stub) as Unary<FeedbackRequest, FeedbackResponse__Output>, request);
  }

  /** Reports every shown item, as bandit services are used: reward 1 for the
   *  clicked ones, 0 for the ones seen and ignored. */
  async reportSlate(userId: string, slate: RecommendResponse__Output, clicked: Set<string>):
      Promise<FeedbackResponse__Output[]> {
    const results: FeedbackResponse__Output[] = [];
    for (const item of slate.items) {
      const hit = clicked.has(item.item_id);
      results.push(await this.feedback({
        request_id: slate.request_id, user_id: userId, item_id: item.item_id,
        reward: hit ? 1 : 0, event_type: hit ? "EVENT_TYPE_CLICK" : "EVENT_TYPE_VIEW",
      }));
    }
    return results;
  }

  /** The serving model, catalog and every counter (metrics). */
  modelInfo(): Promise<ModelInfo__Output> {
    return this.call(this.stub.GetModelInfo.bind(this.stub) as Unary<object, ModelInfo__Output>, {});
  }

  /** "SERVING", "NOT_SERVING", ... for "" (the server) or "rtrec.v1.Recommender". */
  async health(service = ""): Promise<string> {
    const response = await this.call(
      this.healthStub.Check.bind(this.healthStub) as Unary<{ service: string }, { status: string }>, { service });
    return String(response.status);
  }

  /** Resolves once health is SERVING; rejects after timeoutMs. */
  async waitUntilServing(timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await this.health()) === "SERVING") return;
      } catch (e) {
        if (!(e instanceof RtrecError)) throw e;
      }
      if (Date.now() > deadline) throw new Error(`rtrec not SERVING within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  close(): void {
    this.stub.close();
    this.healthStub.close();
  }

  private async call<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res> {
    const deadline = Date.now() + this.options.timeoutMs;
    let backoff = this.options.initialBackoffMs;
    for (let attempt = 1; ; ++attempt) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          method(request, this.metadata, { deadline: new Date(deadline) }, (error, response) => {
            if (error) reject(toRtrecError(error));
            else resolve(response as Res);
          });
        });
      } catch (error) {
        if (!(error instanceof RtrecError) || !error.retryable || attempt >= this.options.maxAttempts) throw error;
        const wait = Math.max((error.retryDelaySeconds ?? 0) * 1000, Math.random() * backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs);
        if (Date.now() + wait >= deadline) throw error;
        await this.options.sleep(wait);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
