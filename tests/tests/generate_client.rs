//! The client side of text generation (issue 33): a Hugging Face decoder directory (made here,
//! with a byte-level BPE tokenizer trained on WordNet's English) packed and checked, the chat
//! template applied, prompts cut into shards whose completions are those of one job, and what
//! a client must refuse before posting.
use std::sync::Arc;

use tessera_compute::generate::{self, Arch, DecoderModel, Finish, GenerateJob, Sampling};
use tessera_compute::testcases::decoder::{DecoderShape, Dtype};
use tessera_compute::Limits;
use tessera_jobs::generation::{self, DecoderInfo, GenerateOptions, Message, Prompt, PromptInput};
use tessera_tests::decoder_dir::{self, small_decoder_dir};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-genclient-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn err<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn a_decoder_directory_packs_and_its_prompts_shard_into_the_same_completions() {
    let dir = tmp("llama");
    small_decoder_dir(&dir, Arch::Llama).unwrap();
    assert!(generation::is_decoder_dir(&dir));
    let blob = generation::decoder_blob(&dir).unwrap();
    let info = DecoderInfo::from_blob(&blob).unwrap();
    assert_eq!(info.eos, vec![2], "generation_config.json's eos");
    // the chat template, as SmolLM2's tokenizer renders it
    let chat = vec![Message {
        role: "user".into(),
        content: "What is a shadow?".into(),
    }];
    assert_eq!(
        info.chat(&chat).unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is a shadow?<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = info
        .encode(&Prompt {
            id: "c".into(),
            input: PromptInput::Messages(chat),
        })
        .unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is one token");
    assert_eq!(ids.iter().filter(|&&t| t == 2).count(), 2, "two <|im_end|>");
    // byte-level BPE round-trips real text
    let text = "an entity that can cast a shadow; it was full of rackets, balls and other objects";
    let t = info
        .encode(&Prompt {
            id: "t".into(),
            input: PromptInput::Text(text.into()),
        })
        .unwrap();
    assert!(
        t.len() < text.len() / 2,
        "{} tokens for {} bytes",
        t.len(),
        text.len()
    );
    assert_eq!(info.decode(&t).unwrap(), text);

    // seven prompts in three shards give the completions of one job of all seven
    let lines = [
        r#""the dog barked at the mailman""#,
        r#"{"id": "q1", "prompt": "how big is that part compared to the whole?"}"#,
        r#"{"id": "q2", "messages": [{"role": "user", "content": "Define lard."}]}"#,
        r#"{"id": "q3", "token_ids": [5, 6, 7, 8]}"#,
        r#"{"prompt": "a tangible and visible entity"}"#,
        r#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]}"#,
        r#""lard was also used""#,
    ];
    let prompts = generation::parse_prompts(&lines.join("\n")).unwrap();
    assert_eq!(prompts[1].id, "q1");
    assert_eq!(prompts[4].id, "4");
    let sampling = Sampling {
        temperature: 0.9,
        top_k: 50,
        top_p: 0.95,
        repetition_penalty: 1.1,
        seed: 3,
    };
    let opts = |shards| GenerateOptions {
        max_new_tokens: 12,
        sampling,
        shards,
    };
    let hash = *blake3::hash(&blob).as_bytes();
    let model = Arc::new(DecoderModel::parse(&blob).unwrap());
    let run = |blob: &[u8]| {
        GenerateJob::parse(blob, &Limits::default())
            .unwrap()
            .with_model(model.clone(), &Limits::default())
            .unwrap()
            .completions(generate::forward::Path::Fast)
            .unwrap()
    };
    let one = generation::plan_shards(&info, &hash, "blob:m", &prompts, &opts(1)).unwrap();
    let three = generation::plan_shards(&info, &hash, "blob:m", &prompts, &opts(3)).unwrap();
    assert_eq!(three.shards.len(), 3);
    assert_eq!(
        three.shards.iter().map(|s| s.1).collect::<Vec<_>>()[0],
        0,
        "the first shard starts at prompt 0"
    );
    let whole = run(&one.shards[0].0);
    let joined: Vec<_> = three.shards.iter().flat_map(|s| run(&s.0)).collect();
    assert_eq!(joined, whole, "sharding changed a completion");
    let ids: Vec<String> = three.shards.iter().flat_map(|s| s.2.clone()).collect();
    assert_eq!(
        ids,
        prompts.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
    );
    // a stop token ends a completion (the eos, <|im_end|>, is passed as the stop token)
    assert!(whole
        .iter()
        .all(|c| c.finish == Finish::Length || c.tokens.last() == Some(&2)));
    let jsonl = generation::completions_jsonl(&ids, &whole, Some(&info)).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "0");
    assert_eq!(
        first["text"].as_str().unwrap(),
        info.decode(&whole[0].tokens).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_a_worker_would_refuse_is_refused_before_posting() {
    let dir = tmp("refuse");
    small_decoder_dir(&dir, Arch::Qwen2).unwrap();
    let blob = generation::decoder_blob(&dir).unwrap();
    let info = DecoderInfo::from_blob(&blob).unwrap();
    let hash = [0u8; 32];
    let opts = GenerateOptions {
        max_new_tokens: 100,
        sampling: Sampling::greedy(),
        shards: 1,
    };
    // a prompt that leaves no room for its new tokens in the context (512)
    let long = Prompt {
        id: "long".into(),
        input: PromptInput::Ids(vec![5; 450]),
    };
    let e = err(generation::plan_shards(
        &info,
        &hash,
        "blob:m",
        &[long],
        &opts,
    ));
    assert!(
        e.contains("prompt `long`: 450 tokens and 100 new ones exceed the model's context of 512"),
        "{e}"
    );
    let outside = Prompt {
        id: "o".into(),
        input: PromptInput::Ids(vec![5, 4096]),
    };
    let e = err(generation::plan_shards(
        &info,
        &hash,
        "blob:m",
        &[outside],
        &opts,
    ));
    assert!(
        e.contains("token 4096 is outside the model's vocabulary of 2048"),
        "{e}"
    );
    // absurd limits and sampling
    let e = err(generation::plan_shards(
        &info,
        &hash,
        "blob:m",
        &generation::parse_prompts("\"hi\"").unwrap(),
        &GenerateOptions {
            max_new_tokens: 40_000,
            ..opts
        },
    ));
    assert!(
        e.contains("a limit of 40000 new tokens (1 ..= 32768)"),
        "{e}"
    );
    // malformed prompt lines
    for (data, want) in [
        (
            "{\"id\": 1, \"text\": \"x\"}",
            "line 1: expected `messages`, `prompt` or `token_ids`",
        ),
        ("\"a\"\n[1, 2]", "line 2: expected a string or an object"),
        (
            "{\"messages\": [{\"role\": \"user\"}]}",
            "line 1: `messages`",
        ),
        ("\n\n", "no prompts"),
    ] {
        let e = err(generation::parse_prompts(data));
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    // a tokenizer with more tokens than the model's vocabulary belongs to another model
    let big = decoder_dir::train_tokenizer(&decoder_dir::wordnet_texts().unwrap(), 4096).unwrap();
    std::fs::write(dir.join("tokenizer.json"), big).unwrap();
    let e = err(generation::decoder_blob(&dir));
    assert!(e.contains("the tokenizer does not match the model"), "{e}");
    // no chat template: chats cannot be posted
    let plain = tmp("plain");
    let tok =
        decoder_dir::train_tokenizer(&decoder_dir::wordnet_texts().unwrap()[..2000], 600).unwrap();
    decoder_dir::write_decoder_dir(
        &plain,
        &DecoderShape::small(Arch::Llama, 640),
        1,
        Dtype::F32,
        &tok,
    )
    .unwrap();
    std::fs::write(plain.join("tokenizer_config.json"), "{}").unwrap();
    let info = DecoderInfo::from_blob(&generation::decoder_blob(&plain).unwrap()).unwrap();
    let e = err(info.encode(&Prompt {
        id: "c".into(),
        input: PromptInput::Messages(vec![Message {
            role: "user".into(),
            content: "hi".into(),
        }]),
    }));
    assert!(e.contains("no chat_template"), "{e}");
    // weights split over several files; an architecture the kernel does not run
    std::fs::rename(
        plain.join("model.safetensors"),
        plain.join("model-00001-of-00002.safetensors"),
    )
    .unwrap();
    std::fs::write(plain.join("model.safetensors.index.json"), "{}").unwrap();
    let e = err(generation::decoder_blob(&plain));
    assert!(e.contains("split over several safetensors files"), "{e}");
    let cfg = DecoderShape::small(Arch::Llama, 640)
        .config_json()
        .replace("LlamaForCausalLM", "GPT2LMHeadModel");
    std::fs::write(plain.join("config.json"), cfg).unwrap();
    assert!(!generation::is_decoder_dir(&plain));
    std::fs::write(
        plain.join("config.json"),
        DecoderShape::small(Arch::Llama, 640)
            .config_json()
            .replace("\"silu\"", "\"gelu\""),
    )
    .unwrap();
    std::fs::rename(
        plain.join("model-00001-of-00002.safetensors"),
        plain.join("model.safetensors"),
    )
    .unwrap();
    let e = err(generation::decoder_blob(&plain));
    assert!(e.contains("`hidden_act` = `gelu` is not supported"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&plain).unwrap();
}
