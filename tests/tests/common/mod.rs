pub mod candle_bert;
