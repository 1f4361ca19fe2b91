// SPDX-License-Identifier: Apache-2.0
// Copyright Arbytron contributors.
pragma solidity ^0.8.24;

import "./Interfaces.sol";
import "./ConditionalTokens.sol";

/// @title FixedProductMarketMaker
/// @notice A fixed-product market maker over the N outcome tokens of one condition, with the
/// interface and the exact integer arithmetic of the Gnosis FixedProductMarketMaker that
/// Polymarket's legacy AMM markets use. Arbytron's SDK predicts every amount off-chain with
/// the same formulas, so each rounding step here is part of the contract with the SDK:
///
/// - `ONE = 1e18`; `fee` is a fraction of ONE.
/// - Buy: the fee is taken from the investment (`floor(x * fee / ONE)`); the rest is split
///   into a full set of outcome tokens that joins the pool, and the buyer receives enough of
///   the chosen outcome to keep the product of balances (rounded in the pool's favour).
/// - Sell: the seller names the collateral to receive; the fee is grossed up on top
///   (`floor(r * ONE / (ONE - fee))` leaves the pool), and the seller supplies the outcome
///   tokens that keep the product.
/// - Liquidity: shares are an ERC-20 minted 1:1 with the first funding; later funding keeps
///   the pool's proportions and returns the surplus tokens to the funder.
/// - Fees accrue to liquidity providers pro rata, tracked with a fee-pool weight and a
///   per-account "already withdrawn" amount so that shares can move without moving fees.
contract FixedProductMarketMaker is IERC1155Receiver {
    uint256 private constant ONE = 1e18;
    bytes4 private constant ERC1155_RECEIVED = 0xf23a6e61;
    bytes4 private constant ERC1155_BATCH_RECEIVED = 0xbc197c81;

    event FPMMFundingAdded(address indexed funder, uint256[] amountsAdded, uint256 sharesMinted);
    event FPMMFundingRemoved(
        address indexed funder, uint256[] amountsRemoved, uint256 collateralRemovedFromFeePool, uint256 sharesBurnt
    );
    event FPMMBuy(
        address indexed buyer,
        uint256 investmentAmount,
        uint256 feeAmount,
        uint256 indexed outcomeIndex,
        uint256 outcomeTokensBought
    );
    event FPMMSell(
        address indexed seller,
        uint256 returnAmount,
        uint256 feeAmount,
        uint256 indexed outcomeIndex,
        uint256 outcomeTokensSold
    );

    // ERC-20 events for the LP shares.
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    ConditionalTokens public immutable conditionalTokens;
    IERC20 public immutable collateralToken;
    uint256 public immutable fee;
    /// The pool trades the outcomes of exactly one condition; kept as an array getter for
    /// interface compatibility with the multi-condition Gnosis contract.
    bytes32[] public conditionIds;

    /// ERC-1155 ids of the outcome tokens, outcome index order (index set 1 << i).
    uint256[] private positionIds;
    /// The full partition [1, 2, 4, ...] used to split and merge.
    uint256[] private partition;

    // ---- fee pool ----------------------------------------------------------------------
    /// All fees ever collected plus the virtual weight minted alongside new shares.
    uint256 internal feePoolWeight;
    mapping(address => uint256) internal withdrawnFees;
    uint256 internal totalWithdrawnFees;

    // ---- LP share ERC-20 ---------------------------------------------------------------
    string public constant name = "FPMM Shares";
    string public constant symbol = "FPMM";
    uint8 public immutable decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor(
        ConditionalTokens conditionalTokens_,
        IERC20 collateralToken_,
        bytes32 conditionId,
        uint256 fee_,
        uint8 shareDecimals
    ) {
        require(fee_ < ONE, "fee must be below 100%");
        uint256 outcomeSlotCount = conditionalTokens_.getOutcomeSlotCount(conditionId);
        require(outcomeSlotCount > 1, "condition not prepared");
        conditionalTokens = conditionalTokens_;
        collateralToken = collateralToken_;
        fee = fee_;
        decimals = shareDecimals;
        conditionIds.push(conditionId);
        for (uint256 i = 0; i < outcomeSlotCount; i++) {
            uint256 indexSet = uint256(1) << i;
            partition.push(indexSet);
            positionIds.push(
                conditionalTokens_.getPositionId(
                    collateralToken_, conditionalTokens_.getCollectionId(bytes32(0), conditionId, indexSet)
                )
            );
        }
    }

    // ---- prices ------------------------------------------------------------------------

    /// Outcome tokens received for investing `investmentAmount` collateral in `outcomeIndex`.
    function calcBuyAmount(uint256 investmentAmount, uint256 outcomeIndex) public view returns (uint256) {
        require(outcomeIndex < positionIds.length, "invalid outcome index");
        uint256[] memory balances = _poolBalances();
        uint256 invested = investmentAmount - (investmentAmount * fee) / ONE;
        uint256 boughtBalance = balances[outcomeIndex];
        // The bought outcome's balance after the trade, scaled by ONE, rounded up at each step.
        uint256 ending = boughtBalance * ONE;
        for (uint256 j = 0; j < balances.length; j++) {
            if (j != outcomeIndex) {
                uint256 b = balances[j];
                ending = _ceildiv(ending * b, b + invested);
            }
        }
        require(ending > 0, "must have non-zero balances");
        return boughtBalance + invested - _ceildiv(ending, ONE);
    }

    /// Outcome tokens of `outcomeIndex` the seller must supply to receive `returnAmount`.
    function calcSellAmount(uint256 returnAmount, uint256 outcomeIndex)
        public
        view
        returns (uint256 outcomeTokenSellAmount)
    {
        require(outcomeIndex < positionIds.length, "invalid outcome index");
        uint256[] memory balances = _poolBalances();
        uint256 withdrawn = (returnAmount * ONE) / (ONE - fee);
        uint256 soldBalance = balances[outcomeIndex];
        uint256 ending = soldBalance * ONE;
        for (uint256 j = 0; j < balances.length; j++) {
            if (j != outcomeIndex) {
                uint256 b = balances[j];
                require(withdrawn < b, "insufficient liquidity");
                ending = _ceildiv(ending * b, b - withdrawn);
            }
        }
        require(ending > 0, "must have non-zero balances");
        return withdrawn + _ceildiv(ending, ONE) - soldBalance;
    }

    // ---- trading -----------------------------------------------------------------------

    function buy(uint256 investmentAmount, uint256 outcomeIndex, uint256 minOutcomeTokensToBuy) external {
        uint256 bought = calcBuyAmount(investmentAmount, outcomeIndex);
        require(bought >= minOutcomeTokensToBuy, "minimum buy amount not reached");
        require(
            collateralToken.transferFrom(msg.sender, address(this), investmentAmount), "cost transfer failed"
        );
        uint256 feeAmount = (investmentAmount * fee) / ONE;
        feePoolWeight += feeAmount;
        uint256 invested = investmentAmount - feeAmount;
        _split(invested);
        conditionalTokens.safeTransferFrom(address(this), msg.sender, positionIds[outcomeIndex], bought, "");
        emit FPMMBuy(msg.sender, investmentAmount, feeAmount, outcomeIndex, bought);
    }

    function sell(uint256 returnAmount, uint256 outcomeIndex, uint256 maxOutcomeTokensToSell) external {
        uint256 sold = calcSellAmount(returnAmount, outcomeIndex);
        require(sold <= maxOutcomeTokensToSell, "maximum sell amount exceeded");
        conditionalTokens.safeTransferFrom(msg.sender, address(this), positionIds[outcomeIndex], sold, "");
        uint256 feeAmount = (returnAmount * fee) / (ONE - fee);
        feePoolWeight += feeAmount;
        _merge(returnAmount + feeAmount);
        require(collateralToken.transfer(msg.sender, returnAmount), "return transfer failed");
        emit FPMMSell(msg.sender, returnAmount, feeAmount, outcomeIndex, sold);
    }

    // ---- liquidity ---------------------------------------------------------------------

    /// Adds `addedFunds` collateral as liquidity. The first funding may shape the initial
    /// prices with `distributionHint` (outcome k keeps `addedFunds * hint[k] / max(hint)`);
    /// later fundings keep the current proportions. Tokens the pool does not keep go back to
    /// the funder, so the funder's exposure is exactly what the pool shape implies.
    function addFunding(uint256 addedFunds, uint256[] calldata distributionHint) external {
        require(addedFunds > 0, "funding must be non-zero");
        uint256 n = positionIds.length;
        uint256[] memory sendBack = new uint256[](n);
        uint256 supply = totalSupply;
        uint256 minted;
        if (supply > 0) {
            require(distributionHint.length == 0, "cannot use distribution hint after initial funding");
            uint256[] memory balances = _poolBalances();
            uint256 poolWeight = _max(balances);
            for (uint256 k = 0; k < n; k++) {
                sendBack[k] = addedFunds - (addedFunds * balances[k]) / poolWeight;
            }
            minted = (addedFunds * supply) / poolWeight;
        } else {
            if (distributionHint.length > 0) {
                require(distributionHint.length == n, "hint length off");
                uint256 maxHint = _max(distributionHint);
                for (uint256 k = 0; k < n; k++) {
                    uint256 kept = (addedFunds * distributionHint[k]) / maxHint;
                    require(kept > 0, "must hint a valid distribution");
                    sendBack[k] = addedFunds - kept;
                }
            }
            minted = addedFunds;
        }
        require(collateralToken.transferFrom(msg.sender, address(this), addedFunds), "funding transfer failed");
        _split(addedFunds);
        _mint(msg.sender, minted);
        conditionalTokens.safeBatchTransferFrom(address(this), msg.sender, positionIds, sendBack, "");
        uint256[] memory added = sendBack;
        for (uint256 k = 0; k < n; k++) {
            added[k] = addedFunds - sendBack[k];
        }
        emit FPMMFundingAdded(msg.sender, added, minted);
    }

    /// Burns shares for the same fraction of every outcome balance (outcome tokens, not
    /// collateral: merge them yourself), settling the caller's accrued fees first.
    function removeFunding(uint256 sharesToBurn) external {
        uint256[] memory balances = _poolBalances();
        uint256 supply = totalSupply;
        uint256[] memory amounts = new uint256[](balances.length);
        for (uint256 k = 0; k < balances.length; k++) {
            amounts[k] = (balances[k] * sharesToBurn) / supply;
        }
        uint256 collateralBefore = collateralToken.balanceOf(address(this));
        _burn(msg.sender, sharesToBurn);
        uint256 feesPaid = collateralBefore - collateralToken.balanceOf(address(this));
        conditionalTokens.safeBatchTransferFrom(address(this), msg.sender, positionIds, amounts, "");
        emit FPMMFundingRemoved(msg.sender, amounts, feesPaid, sharesToBurn);
    }

    // ---- fee pool ----------------------------------------------------------------------

    /// Fees collected and not yet withdrawn.
    function collectedFees() external view returns (uint256) {
        return feePoolWeight - totalWithdrawnFees;
    }

    function feesWithdrawableBy(address account) public view returns (uint256) {
        return _feeEntitlement(account) - withdrawnFees[account];
    }

    function withdrawFees(address account) public {
        uint256 entitlement = _feeEntitlement(account);
        uint256 due = entitlement - withdrawnFees[account];
        if (due > 0) {
            withdrawnFees[account] = entitlement;
            totalWithdrawnFees += due;
            require(collateralToken.transfer(account, due), "withdrawal transfer failed");
        }
    }

    function _feeEntitlement(address account) private view returns (uint256) {
        uint256 supply = totalSupply;
        if (supply == 0) return 0;
        return (feePoolWeight * balanceOf[account]) / supply;
    }

    /// Runs before every share mint, burn or transfer: pays the sender's accrued fees, then
    /// moves the matching slice of fee-pool weight with the shares, so a receiver (or a new
    /// LP) is not entitled to fees collected before it held them.
    function _beforeShareTransfer(address from, address to, uint256 amount) private {
        if (from != address(0)) {
            withdrawFees(from);
        }
        uint256 supply = totalSupply;
        uint256 weight = supply == 0 ? amount : (feePoolWeight * amount) / supply;
        if (from != address(0)) {
            withdrawnFees[from] -= weight;
            totalWithdrawnFees -= weight;
        } else {
            feePoolWeight += weight;
        }
        if (to != address(0)) {
            withdrawnFees[to] += weight;
            totalWithdrawnFees += weight;
        } else {
            feePoolWeight -= weight;
        }
    }

    // ---- LP shares as ERC-20 -----------------------------------------------------------

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "insufficient allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        require(to != address(0), "transfer to the zero address");
        _beforeShareTransfer(from, to, amount);
        uint256 have = balanceOf[from];
        require(have >= amount, "insufficient share balance");
        unchecked {
            balanceOf[from] = have - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }

    function _mint(address to, uint256 amount) private {
        _beforeShareTransfer(address(0), to, amount);
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _burn(address from, uint256 amount) private {
        _beforeShareTransfer(from, address(0), amount);
        uint256 have = balanceOf[from];
        require(have >= amount, "insufficient share balance");
        unchecked {
            balanceOf[from] = have - amount;
        }
        totalSupply -= amount;
        emit Transfer(from, address(0), amount);
    }

    // ---- ERC-1155 receiving ------------------------------------------------------------

    /// Only tokens the pool moves itself (splits, sells, funding) are accepted: a stray
    /// transfer would change the balances without going through the invariant.
    function onERC1155Received(address operator, address, uint256, uint256, bytes calldata)
        external
        view
        returns (bytes4)
    {
        require(msg.sender == address(conditionalTokens) && operator == address(this), "unsolicited tokens");
        return ERC1155_RECEIVED;
    }

    function onERC1155BatchReceived(address operator, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        view
        returns (bytes4)
    {
        require(msg.sender == address(conditionalTokens) && operator == address(this), "unsolicited tokens");
        return ERC1155_BATCH_RECEIVED;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x4e2312e0; // ERC-1155 receiver
    }

    // ---- internals ---------------------------------------------------------------------

    function _poolBalances() private view returns (uint256[] memory balances) {
        uint256 n = positionIds.length;
        address[] memory owners = new address[](n);
        for (uint256 k = 0; k < n; k++) {
            owners[k] = address(this);
        }
        balances = conditionalTokens.balanceOfBatch(owners, positionIds);
    }

    function _split(uint256 amount) private {
        require(collateralToken.approve(address(conditionalTokens), amount), "approval for splits failed");
        conditionalTokens.splitPosition(collateralToken, bytes32(0), conditionIds[0], partition, amount);
    }

    function _merge(uint256 amount) private {
        conditionalTokens.mergePositions(collateralToken, bytes32(0), conditionIds[0], partition, amount);
    }

    function _max(uint256[] memory xs) private pure returns (uint256 m) {
        for (uint256 k = 0; k < xs.length; k++) {
            if (xs[k] > m) m = xs[k];
        }
    }

    function _ceildiv(uint256 x, uint256 y) private pure returns (uint256) {
        return x > 0 ? (x - 1) / y + 1 : 0;
    }
}
