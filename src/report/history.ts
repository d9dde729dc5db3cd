/**
 * One row of a training history. It lives below training (which writes it) and the plots and reports (which
 * draw it), so that neither has to import the other.
 */
export interface EpochRow {
  /** 1-based. */
  epoch: number;
  /** Mean training loss over the epoch's mini-batches (training mode, i.e. with dropout), weighted by batch size. */
  trainLoss: number;
  trainAcc: number;
  valLoss?: number;
  valAcc?: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  seconds: number;
}
