//! `credits-cycle-rollover`: on a schedule, advances the idle accounts that have something
//! due (expiries, grants, cycle statements, alerts). See `credits_lambda::rollover`.

use credits_lambda::rollover::{self, DEAD_LETTER_URL_ENV, FailureSink, LogOnly, SqsSink};
use lambda_http::Error;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    credits_lambda::init_tracing();
    // Once per container, never per invocation: the store, and the dead-letter
    // queue's client when the template names a queue.
    // It serves no request, so it reads no admin key (its role may not read the secret).
    let settings = credits_lambda::Settings {
        admin_key_secret: None,
        ..credits_lambda::Settings::from_env()?
    };
    let state = credits_lambda::app_state(&settings).await?;
    let sink: Box<dyn FailureSink> = match std::env::var(DEAD_LETTER_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(credits_lambda::sdk_timeouts())
                .load()
                .await;
            Box::new(SqsSink::new(
                aws_sdk_sqs::Client::new(&config),
                url.trim().to_string(),
            ))
        }
        _ => Box::new(LogOnly),
    };
    let (state, sink) = (&state, sink.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        rollover::handle(event, state, sink).await
    }))
    .await
}
